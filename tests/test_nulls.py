import numpy as np
import pytest

from universality.nulls import compare, p_value, rsa_row_shuffle, svcca_row_shuffle
from universality.similarity import rsa, svcca


def test_p_value_is_never_zero_and_counts_ties():
    null = np.array([0.1, 0.2, 0.3, 0.5])
    assert p_value(0.9, null) == pytest.approx(1 / 5)
    assert p_value(0.3, null) == pytest.approx(3 / 5)
    assert p_value(0.0, null) == pytest.approx(1.0)


def test_svcca_shortcut_null_equals_recomputing_on_shuffled_rows():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((40, 6)), rng.standard_normal((40, 8))
    fast = svcca_row_shuffle(X, Y, 0.99, 5, np.random.default_rng(1))
    replay = np.random.default_rng(1)
    slow = [svcca(X, Y[replay.permutation(40)], 0.99).score for _ in range(5)]
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_rsa_null_equals_recomputing_on_shuffled_rows():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((30, 7))
    fast = rsa_row_shuffle(X, Y, 4, np.random.default_rng(3))
    replay = np.random.default_rng(3)
    slow = [rsa(X, Y[replay.permutation(30)]) for _ in range(4)]
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_related_rows_are_significant_and_independent_rows_are_not():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((150, 10))
    related = X @ rng.standard_normal((10, 14)) + 0.1 * rng.standard_normal((150, 14))
    independent = rng.standard_normal((150, 14))
    hit = compare(X, related, 0.99, 200, seed=0)
    miss = compare(X, independent, 0.99, 200, seed=0)
    assert hit["svcca"]["p"] == pytest.approx(1 / 201) and hit["rsa"]["p"] == pytest.approx(1 / 201)
    assert miss["svcca"]["p"] > 0.01 and miss["rsa"]["p"] > 0.01


def test_small_n_inflates_svcca_and_its_null_shows_it():
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((20, 16)), rng.standard_normal((20, 16))
    result = compare(X, Y, 0.99, 200, seed=1)
    assert result["svcca"]["observed"] > 0.5  # far above 0 although X and Y are independent
    assert result["svcca"]["null_mean"] > 0.5
    assert result["svcca"]["p"] > 0.01


def test_identical_seeds_give_identical_results_and_too_few_pairs_give_no_score():
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((25, 4)), rng.standard_normal((25, 5))
    first, second = compare(X, Y, 0.99, 50, seed=[1, 2]), compare(X, Y, 0.99, 50, seed=[1, 2])
    np.testing.assert_array_equal(first["null_scores"]["svcca"], second["null_scores"]["svcca"])
    assert compare(X[:2], Y[:2], 0.99, 50, seed=0) == {"n": 2, "status": "too few pairs"}


def test_a_side_with_one_distinct_row_gets_a_status_not_a_crash():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.standard_normal((1, 6)), 5, axis=0)  # one A feature, five B partners
    Y = rng.standard_normal((5, 8))
    assert compare(X, Y, 0.99, 50, seed=0) == {"n": 5, "status": "one distinct row"}
