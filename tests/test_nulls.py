import numpy as np
import pytest

from universality.similarity.nulls import NULLS, NullSettings, add_q_values, compare, group_permutation, p_value, summarize
from universality.similarity.permutations import METRICS

SETTINGS = NullSettings(permutations=200, size_matched_draws=40, ci_draws=40, ci_fraction=0.8, ci_level=0.95)


def run(X, Y, groups=None, pools=None, seed=0, settings=SETTINGS):
    groups = np.arange(len(X)) if groups is None else groups
    rng = np.random.default_rng(99)
    pool_a, pool_b = pools if pools is not None else (rng.standard_normal((400, X.shape[1])), rng.standard_normal((400, Y.shape[1])))
    return compare(X, Y, groups, pool_a, pool_b, 0.99, settings, seed)


def test_p_value_is_never_zero_and_counts_ties():
    null = np.array([0.1, 0.2, 0.3, 0.5])
    assert p_value(0.9, null) == pytest.approx(1 / 5)
    assert p_value(0.3, null) == pytest.approx(3 / 5)
    assert p_value(0.0, null) == pytest.approx(1.0)


def test_group_permutation_moves_whole_groups_onto_groups_of_the_same_size():
    groups = np.array([5, 5, 5, 1, 2, 2, 3, 3, 3, 4, 7])
    rng = np.random.default_rng(0)
    for _ in range(20):
        perm = group_permutation(groups, rng)
        assert sorted(perm) == list(range(len(groups)))
        for g in np.unique(groups):
            rows = np.flatnonzero(groups == g)
            targets = groups[perm[rows]]
            assert len(set(targets)) == 1 and (groups == targets[0]).sum() == len(rows)


def test_related_rows_are_significant_and_independent_rows_are_not():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((150, 10))
    related = X @ rng.standard_normal((10, 14)) + 0.1 * rng.standard_normal((150, 14))
    independent = rng.standard_normal((150, 14))
    hit, miss = run(X, related), run(X, independent)
    for metric in ("svcca", "rsa", "cka", "procrustes"):
        assert all(hit[metric][null]["p"] == pytest.approx(1 / 201 if null != "size_matched" else 1 / 41) for null in NULLS), metric
        assert miss[metric]["row_shuffle"]["p"] > 0.01, metric
    assert hit["svcca"]["row_shuffle"]["effect"] > 0.5


def test_small_n_inflates_svcca_and_the_size_matched_null_shows_it():
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((20, 16)), rng.standard_normal((20, 16))
    result = run(X, Y)
    assert result["svcca"]["observed"] > 0.5  # far above 0 although X and Y are independent
    assert result["svcca"]["size_matched"]["null_mean"] > 0.5
    assert result["svcca"]["size_matched"]["p"] > 0.01


def test_duplicated_rows_fake_significance_under_the_row_shuffle_only():
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(12), 8)  # 12 A features, each the partner of 8 B features
    X = rng.standard_normal((12, 10))[groups]  # duplicated A rows
    Y = rng.standard_normal((12, 14))[groups] + 0.3 * rng.standard_normal((96, 14))  # B clusters unrelated to A's geometry
    result = run(X, Y, groups=groups)
    assert result["rsa"]["row_shuffle"]["p"] < 0.01
    assert result["rsa"]["group"]["p"] > 0.05


def test_confidence_interval_holds_the_observed_score():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((120, 8))
    Y = X @ rng.standard_normal((8, 9)) + rng.standard_normal((120, 9))
    result = run(X, Y)
    for metric in METRICS:
        low, high = result[metric]["ci"]
        assert low <= result[metric]["observed"] <= high, metric


def test_identical_seeds_give_identical_results_and_small_sets_get_a_status():
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((25, 4)), rng.standard_normal((25, 5))
    first, second = run(X, Y, seed=[1, 2]), run(X, Y, seed=[1, 2])
    for null in NULLS:
        for metric in METRICS:
            np.testing.assert_array_equal(first["null_scores"][null][metric], second["null_scores"][null][metric])
    assert run(X[:3], Y[:3]) == {"n": 3, "status": "too few pairs"}
    same = np.repeat(X[:1], 5, axis=0)
    assert run(same, Y[:5]) == {"n": 5, "status": "one distinct row"}


def test_q_values_are_benjamini_hochberg_across_the_grid():
    records = [{"status": "ok"} | {m: {null: {"p": p} for null in NULLS} for m in METRICS} for p in (0.001, 0.04)]
    records.append({"status": "too few pairs"})
    add_q_values(records)
    qs = [r[m]["group"]["q"] for r in records[:2] for m in METRICS]
    k = len(METRICS)
    assert qs[:k] == pytest.approx([0.002] * k)  # 2k tests, the k smallest p = 0.001: q = 0.001 * 2k / k
    assert qs[k:] == pytest.approx([0.04] * k)


def test_effect_is_chance_corrected_and_undefined_when_chance_is_one():
    assert summarize(0.8, np.array([0.5, 0.6, 0.4]))["effect"] == pytest.approx(0.6)
    assert summarize(1.0, np.array([1.0 - 1e-12, 1.0]))["effect"] is None
