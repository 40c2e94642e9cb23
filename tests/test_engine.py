import numpy as np
import pytest

from universality.similarity.engine import Engine
from universality.similarity.metrics import METRICS, linear_cka, pc1_corr, procrustes, rsa, rsa_paper, svcca
from universality.similarity.nulls import NullSettings, compare
from universality.similarity.size_matched import FeaturePools

DEFINITIONS = {
    "svcca": lambda X, Y: svcca(X, Y, 0.99).score,
    "pc1_corr": pc1_corr,
    "rsa": rsa,
    "rsa_paper": rsa_paper,
    "cka": linear_cka,
    "cka_debiased": lambda X, Y: linear_cka(X, Y, debiased=True),
    "procrustes": procrustes,
}


def related_rows(n, d_a, d_b, seed, rank=None):
    """Y a noisy linear image of X; X of the given column rank (its rows span `rank` directions)."""
    rng = np.random.default_rng(seed)
    rank = rank or d_a
    X = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d_a)) @ np.diag(np.linspace(3, 0.2, d_a))
    Y = X @ rng.standard_normal((d_a, d_b)) + 0.5 * rng.standard_normal((n, d_b))
    return X, Y


@pytest.mark.parametrize(
    ("n", "d_a", "d_b", "rank"), [(40, 6, 9, None), (25, 12, 5, None), (60, 3, 3, None), (30, 8, 6, 3), (9, 12, 10, None)]
)
def test_row_shuffles_equal_the_definitions_on_permuted_rows(n, d_a, d_b, rank):
    X, Y = related_rows(n, d_a, d_b, seed=n, rank=rank)
    rng = np.random.default_rng(0)
    permutations = np.stack([np.arange(n)] + [rng.permutation(n) for _ in range(4)])
    scores = Engine(0.99).row_shuffles(X, Y).scores(permutations)
    assert set(scores) == set(METRICS)
    for metric, definition in DEFINITIONS.items():
        expected = [definition(X, Y[p]) for p in permutations]
        np.testing.assert_allclose(scores[metric], expected, rtol=0, atol=1e-10, err_msg=metric)


def test_batches_do_not_change_the_scores():
    X, Y = related_rows(50, 5, 7, seed=1)
    permutations = np.stack([np.random.default_rng(i).permutation(50) for i in range(9)])
    shuffled = Engine(0.99).row_shuffles(X, Y)
    together = shuffled.scores(permutations)
    shuffled.reassigned.factored.batch = 2
    apart = shuffled.scores(permutations)
    for metric in METRICS:
        np.testing.assert_allclose(apart[metric], together[metric], rtol=0, atol=1e-13, err_msg=metric)


def test_float32_products_stay_within_the_stated_tolerance():
    """Decoder-like rows: unit norm, d 64 vs 96, n 2,000; float32 moves no score by more than 1e-4."""
    X, Y = related_rows(2000, 64, 96, seed=2)
    X, Y = X / np.linalg.norm(X, axis=1, keepdims=True), Y / np.linalg.norm(Y, axis=1, keepdims=True)
    permutations = np.stack([np.arange(2000)] + [np.random.default_rng(i).permutation(2000) for i in range(3)])
    exact = Engine(0.99, max_rank_pairs=0).row_shuffles(X, Y).scores(permutations)
    single = Engine(0.99, "float32", max_rank_pairs=0).row_shuffles(X, Y).scores(permutations)
    for metric in set(METRICS) - {"rsa_paper"}:
        np.testing.assert_allclose(single[metric], exact[metric], rtol=0, atol=1e-4, err_msg=metric)
        assert not np.array_equal(single[metric], exact[metric]), metric  # the float32 path really ran


def test_no_null_builds_an_n_by_n_matrix():
    """n = 200,000 pairs: one n x n float64 matrix would take 320 GB; the factored metrics need O(n d)."""
    rng = np.random.default_rng(3)
    n = 200_000
    group = rng.integers(0, 50_000, n)
    distinct = rng.standard_normal((50_000, 4))
    Y = distinct[group] @ rng.standard_normal((4, 5)) + rng.standard_normal((n, 5))
    engine = Engine(0.99)
    shuffled = engine.row_shuffles(distinct[group], Y).scores(np.stack([np.arange(n), rng.permutation(n)]))
    reassigned = engine.reassignments(distinct, group, Y).scores(np.stack([np.arange(50_000), rng.permutation(50_000)]))
    for scores in (shuffled, reassigned):
        assert np.isnan(scores["rsa_paper"]).all()  # above the exact-rank limit: not computed
        for metric in set(METRICS) - {"rsa_paper"}:
            assert np.isfinite(scores[metric]).all() and scores[metric][0] > scores[metric][1], metric
    assert shuffled["cka"][0] == pytest.approx(reassigned["cka"][0], abs=1e-12)


def test_rsa_paper_above_its_limit_is_a_status_not_a_score():
    X, Y = related_rows(30, 4, 5, seed=4)
    pools = FeaturePools(*related_rows(200, 4, 5, seed=5), np.arange(200))
    settings = NullSettings(permutations=20, size_matched_draws=5, ci_draws=5, ci_fraction=0.8, ci_level=0.95)
    result = compare(X, Y, np.arange(30), pools, Engine(0.99, max_rank_pairs=20), settings, seed=0)
    assert result["rsa_paper"]["observed"] is None and result["rsa_paper"]["ci"] is None
    assert all("rsa_paper_max_n (20)" in result["rsa_paper"][null]["status"] for null in ("row_shuffle", "group", "size_matched"))
    assert result["rsa"]["row_shuffle"]["p"] is not None
    within = compare(X, Y, np.arange(30), pools, Engine(0.99, max_rank_pairs=30), settings, seed=0)
    assert within["rsa_paper"]["observed"] == pytest.approx(rsa_paper(X, Y), abs=1e-12)


def test_a_one_to_one_set_reports_its_row_shuffle_as_the_group_null():
    X, Y = related_rows(12, 4, 5, seed=6)
    pools = FeaturePools(*related_rows(200, 4, 5, seed=7), np.arange(200))
    settings = NullSettings(permutations=50, size_matched_draws=5, ci_draws=5, ci_fraction=0.8, ci_level=0.95)
    result = compare(X, Y, np.arange(12), pools, Engine(0.99), settings, seed=0)
    for metric in METRICS:
        assert result[metric]["group"] == result[metric]["row_shuffle"]
    assert result["null_scores"]["group"] is result["null_scores"]["row_shuffle"]


def test_unpaired_rows_are_refused():
    X = np.random.default_rng(8).standard_normal((10, 3))
    with pytest.raises(ValueError, match="paired rows"):
        Engine(0.99).row_shuffles(X, X[:-1])
    with pytest.raises(ValueError, match="paired rows"):
        Engine(0.99).reassignments(X[:3], np.array([0, 1, 2, 0]), X)


def _definition_or_nan(metric, X, Y) -> float:
    """The definition's value, nan where it is undefined (it refuses rows that are all one row)."""
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(DEFINITIONS[metric](X, Y))
    except ValueError:
        return float("nan")


def degenerate_rows(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct A rows D, group per B row, Y) of a degenerate subset."""
    rng = np.random.default_rng(3)
    if case == "one distinct A row":
        return rng.standard_normal((1, 6)), np.zeros(9, dtype=np.int64), rng.standard_normal((9, 7))
    if case == "rank 1 on both sides":
        direction_a, direction_b = rng.standard_normal(6), rng.standard_normal(7)
        scale = rng.standard_normal(9)
        return np.outer(scale, direction_a), np.arange(9), np.outer(scale + 0.3 * rng.standard_normal(9), direction_b)
    if case == "n = d":
        D = rng.standard_normal((8, 8))
        return D, np.arange(8), D @ rng.standard_normal((8, 8)) + 0.1 * rng.standard_normal((8, 8))
    D = rng.standard_normal((3, 6))  # two groups hold copies of one direction at other lengths: cosines of 1 across groups
    D[1] = 2.5 * D[0]
    group = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    return D, group, D[group] @ rng.standard_normal((6, 5)) + rng.standard_normal((8, 5))


@pytest.mark.parametrize("case", ["one distinct A row", "rank 1 on both sides", "n = d", "one direction at two lengths"])
def test_degenerate_rows_get_the_definitions_value_or_undefined_on_both_paths_never_inf(case):
    D, group, Y = degenerate_rows(case)
    scores = Engine(0.99).reassignments(D, group, Y).scores(np.arange(len(D))[None])
    for metric in METRICS:
        got, expected = scores[metric][0], _definition_or_nan(metric, D[group], Y)
        assert not np.isinf(got), f"{metric}: {got}"
        if np.isnan(expected):
            assert np.isnan(got), f"{metric}: the definition is undefined, the engine gives {got}"
        else:
            assert got == pytest.approx(expected, abs=1e-9), metric
