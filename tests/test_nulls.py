import itertools
import math

import numpy as np
import pytest

from universality.similarity import metrics
from universality.similarity.engine import Engine
from universality.similarity.metrics import METRICS
from universality.similarity.nulls import (
    NULLS,
    NullSettings,
    compare,
    family_q_values,
    p_value,
    permutations_to_score,
    subsample_size,
    subsampling_interval,
    summarize,
)  # fmt: skip
from universality.similarity.size_matched import FeaturePools, size_matched_draw

SETTINGS = NullSettings(permutations=200, size_matched_draws=40, ci_draws=40, ci_fraction=0.8, ci_level=0.95)


DEFINITIONS = {
    "svcca": lambda X, Y: metrics.svcca(X, Y).score, "pc1_corr": metrics.pc1_corr, "rsa": metrics.rsa, "rsa_paper": metrics.rsa_paper,
    "cka": metrics.linear_cka, "cka_debiased": lambda X, Y: metrics.linear_cka(X, Y, debiased=True), "procrustes": metrics.procrustes,
}  # fmt: skip


def random_pools(d_a, d_b, size=400, seed=99):
    rng = np.random.default_rng(seed)
    return FeaturePools(
        rng.standard_normal((size, d_a)), rng.standard_normal((size, d_b)), np.arange(size)
    )  # every B feature its own donor


def run(X, Y, groups=None, pools=None, seed=0, settings=SETTINGS):
    groups = np.arange(len(X)) if groups is None else groups
    return compare(X, Y, groups, pools or random_pools(X.shape[1], Y.shape[1]), Engine(0.99), settings, seed)


def test_p_value_is_never_zero_and_counts_ties_within_a_tolerance():
    null = np.array([0.1, 0.2, 0.3 - 1e-13, 0.5])  # 0.3 scored in a batch, 1e-13 off the observed 0.3
    assert p_value(0.9, null) == pytest.approx(1 / 5)
    assert p_value(0.3, null) == pytest.approx(3 / 5)
    assert p_value(0.0, null) == pytest.approx(1.0)
    assert p_value(0.3, null, exhaustive=True) == pytest.approx(2 / 4)  # every permutation scored: the exact share


def test_a_non_finite_score_gets_a_status_not_a_p():
    assert summarize(np.nan, np.array([0.1, 0.2]))["status"] == "non-finite score"
    assert summarize(0.5, np.array([0.1, np.nan]))["status"] == "non-finite null score"
    assert all(summarize(np.nan, np.array([0.1, 0.2]))[key] is None for key in ("p", "z", "null_mean", "effect"))


@pytest.mark.parametrize("sizes", [[1, 3, 2, 5, 1, 4, 2], [4, 4, 4], [1, 1, 1, 1, 1], [6, 1, 2], [4, 2]])
def test_reassigned_scores_equal_the_definitions_on_the_rows_they_stand_for(sizes):
    rng = np.random.default_rng(len(sizes))
    group = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    D = rng.standard_normal((len(sizes), 6))
    Y = 0.5 * D[group] @ rng.standard_normal((6, 9)) + rng.standard_normal((len(group), 9))
    scorer = Engine(0.99).reassignments(D, group, Y)
    for pi in [np.arange(len(sizes)), *(rng.permutation(len(sizes)) for _ in range(3))]:
        got = scorer.scores(pi[None])
        for metric in METRICS:
            assert got[metric][0] == pytest.approx(DEFINITIONS[metric](D[pi][group], Y), abs=1e-10), metric


def test_debiased_cka_of_copies_of_two_rows_is_undefined_on_both_paths():
    rng = np.random.default_rng(1)
    group = np.array([0] * 7 + [1])
    D, Y = rng.standard_normal((2, 5)), rng.standard_normal((8, 6))
    assert np.isnan(Engine(0.99).reassignments(D, group, Y).scores(np.array([[1, 0]]))["cka_debiased"][0])
    assert run(D[group], Y, groups=group)["cka_debiased"]["group"]["status"] == "non-finite score"


def test_group_null_reassigns_groups_of_different_sizes_and_enumerates_when_few():
    """Group sizes 1..5 are all different: the old same-size swap left only the identity (p = its smallest value)."""
    rng = np.random.default_rng(3)
    sizes = [1, 2, 3, 4, 5]
    group = np.repeat(np.arange(5), sizes)
    D = rng.standard_normal((5, 4))
    X, Y = D[group], rng.standard_normal((15, 6))
    result = run(X, Y, groups=group)
    for metric in ("rsa", "cka", "svcca"):
        scores = [DEFINITIONS[metric](D[pi][group], Y) for pi in map(np.array, itertools.permutations(range(5)))]
        exact = np.mean(np.array(scores) >= result[metric]["observed"] - 1e-9)
        assert result[metric]["group"]["exhaustive"] and result[metric]["group"]["draws"] == 120
        assert result[metric]["group"]["p"] == pytest.approx(exact), metric
        assert result[metric]["group"]["null_sd"] > 0


def test_an_exhaustive_group_null_never_gives_p_zero_even_where_a_metric_is_ill_conditioned():
    """Orthonormal distinct rows tie the principal components, so pc1_corr differs between the observed score's code
    path and the null's (trials 19 and 25 below); the group null is read against its own identity score."""
    rng = np.random.default_rng(0)
    for _ in range(30):
        G = int(rng.integers(3, 6))
        group = np.repeat(np.arange(G), 2)
        D = np.linalg.qr(rng.standard_normal((8, G)))[0].T  # G orthonormal rows
        result = run(D[group], rng.standard_normal((2 * G, 5)), groups=group)
        for metric in METRICS:
            group_null = result[metric]["group"]
            assert group_null["p"] is None or (group_null["exhaustive"] and group_null["p"] >= 1 / math.factorial(G)), metric


def test_permutations_are_enumerated_only_when_there_are_few():
    rng = np.random.default_rng(0)
    every, exhaustive = permutations_to_score(4, 100, rng)
    assert exhaustive and len(every) == 24 and len({tuple(p) for p in every}) == 24
    sampled, exhaustive = permutations_to_score(6, 100, rng)
    assert not exhaustive and sampled.shape == (100, 6)


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


def test_subsampling_interval_covers_at_its_nominal_level():
    """Mean of 100 unit-variance groups, 80 drawn per subsample: a 95% interval must cover the true 0 about 95% of the time
    (the sqrt(b / n) factor covered 62%)."""
    rng = np.random.default_rng(11)
    n, b, covered, trials = 100, subsample_size(100, 0.8), 0, 400
    for _ in range(trials):
        x = rng.standard_normal(n)
        subsamples = np.array([x[rng.choice(n, b, replace=False)].mean() for _ in range(200)])
        low, high = subsampling_interval(x.mean(), subsamples, n, b, 0.95)
        covered += low <= 0.0 <= high
    assert 0.92 <= covered / trials <= 0.98


def test_size_matched_draws_keep_the_group_structure_on_both_sides():
    rng = np.random.default_rng(2)
    a_rows, b_rows = np.arange(50.0)[:, None], np.arange(200.0)[:, None]  # a row's value is its index
    partner = np.repeat(np.arange(20), 10)  # 20 donor groups of 10 B features
    pools = FeaturePools(a_rows, b_rows, partner)
    group_of_row = np.repeat([0, 1, 2, 3], [6, 1, 3, 12])  # the last group is larger than any donor
    for _ in range(20):
        X, Y = size_matched_draw(pools, group_of_row, rng)
        a, b = X[:, 0].astype(int), Y[:, 0].astype(int)
        assert len(set(b)) == len(b)  # distinct B features
        assert all(len(set(a[group_of_row == g])) == 1 for g in range(4)) and len(set(a)) == 4  # X duplicated as the subset is
        for g in range(3):
            assert len(set(partner[b[group_of_row == g]])) == 1  # one donor per group when one is large enough
        assert len(set(partner[b[group_of_row == 3]])) == 2  # 12 rows: a whole donor of 10, then 2 from another


def test_size_matched_draws_share_donors_when_there_are_fewer_than_groups():
    """A 1-1 assignment can pair more B features than there are distinct partners to draw groups from."""
    pools = FeaturePools(np.arange(40.0)[:, None], np.arange(30.0)[:, None], np.repeat(np.arange(3), 10))
    _, Y = size_matched_draw(pools, np.arange(25), np.random.default_rng(0))
    assert len(set(Y[:, 0])) == 25


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


def test_q_values_are_benjamini_hochberg_over_the_family_with_identical_subsets_counted_once():
    def record(p, digest):
        return {"status": "ok", "layer_a": 0, "layer_b": 1, "pairs_digest": digest} | {
            m: {null: {"p": p} for null in NULLS} for m in METRICS
        }

    one_to_one, bucket_copy, other = record(0.001, "same"), record(0.001, "same"), record(0.04, "other")
    family_q_values({"main": [one_to_one], "buckets_of_main": []} | {"main": [one_to_one, bucket_copy, other, {"status": "too few pairs"}]})
    tests = 2 * len(METRICS) * len(NULLS)  # the copy of the 1-1 set is not a hypothesis of its own
    k = len(METRICS) * len(NULLS)
    assert one_to_one["svcca"]["group"]["q"] == pytest.approx(0.001 * tests / k)
    assert bucket_copy["rsa"]["size_matched"]["q"] == one_to_one["rsa"]["size_matched"]["q"]
    assert other["cka"]["row_shuffle"]["q"] == pytest.approx(0.04)


def test_effect_is_chance_corrected_and_undefined_when_chance_is_one():
    assert summarize(0.8, np.array([0.5, 0.6, 0.4]))["effect"] == pytest.approx(0.6)
    assert summarize(1.0, np.array([1.0 - 1e-12, 1.0]))["effect"] is None
