import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from universality.errors import InputError
from universality.pairing.correlation import feature_stats, pair_dense, pair_sparse
from universality.pairing.subsets import one_to_one


def random_codes(rng, n_tokens, n_features, density, dead=(), always_on=()):
    codes = sp.random(n_tokens, n_features, density=density, format="csr", random_state=rng, dtype=np.float64)
    codes.data = np.abs(codes.data) + 0.1
    codes = codes.tolil()
    for feature in dead:
        codes[:, feature] = 0
    for feature in always_on:
        codes[:, feature] = rng.uniform(0.5, 1.5, size=(n_tokens, 1))
    return codes.tocsr().astype(np.float32)


def dense_reference(codes_a, codes_b):
    """float64 Pearson matrix (live A x live B) by the textbook formula, and the live masks."""
    a, b = codes_a.toarray().astype(np.float64), codes_b.toarray().astype(np.float64)
    za, zb = a - a.mean(0), b - b.mean(0)
    sa, sb = np.sqrt((za**2).mean(0)), np.sqrt((zb**2).mean(0))
    live_a, live_b = sa > 0, sb > 0
    corr = (za[:, live_a].T @ zb[:, live_b]) / len(a) / np.outer(sa[live_a], sb[live_b])
    return corr, live_a, live_b


def reference_top2(corr):
    """Per column of corr: best and runner-up row by (value descending, index ascending)."""
    order = np.lexsort((np.broadcast_to(np.arange(corr.shape[0])[:, None], corr.shape), -corr), axis=0)
    return order[0], (order[1] if len(order) > 1 else None)


def run(method, codes_a, codes_b, prefix):
    if method == "sparse":
        return pair_sparse(codes_a, codes_b, chunk_size=7, prefix=prefix, workers=2)
    return pair_dense(codes_a, codes_b, chunk_size=7, token_chunk=97, dtype=torch.float64)


SHAPES = [(500, 40, 60, 0.05), (300, 90, 30, 0.1), (2000, 25, 25, 0.01), (400, 1, 12, 0.2)]


@pytest.mark.parametrize(("method", "prefix"), [("sparse", 2), ("sparse", 256), ("dense", None)])
@pytest.mark.parametrize(("n_tokens", "f_a", "f_b", "density"), SHAPES)
def test_matches_float64_reference(method, prefix, n_tokens, f_a, f_b, density):
    rng = np.random.default_rng(n_tokens + f_a)
    dead_a = (0, 3) if f_a > 3 else ()
    codes_a = random_codes(rng, n_tokens, f_a, density, dead=dead_a, always_on=(f_a - 1,) if f_a > 3 else ())
    codes_b = random_codes(rng, n_tokens, f_b, density, dead=(1,), always_on=(2,))
    result = run(method, codes_a, codes_b, prefix)
    corr, live_a, live_b = dense_reference(codes_a, codes_b)
    ids_a, ids_b = np.flatnonzero(live_a), np.flatnonzero(live_b)

    assert (result.dead_a, result.dead_b) == (len(dead_a), 1)
    pairs, reverse = result.pairs, result.reverse
    best, second = reference_top2(corr)
    np.testing.assert_array_equal(pairs["b_feature"], ids_b)
    np.testing.assert_array_equal(pairs["a_partner"], ids_a[best])
    np.testing.assert_allclose(pairs["r"], corr[best, np.arange(len(ids_b))], rtol=0, atol=1e-6)
    if second is not None:
        np.testing.assert_array_equal(pairs["a_second"], ids_a[second])
        np.testing.assert_allclose(pairs["r_second"], corr[second, np.arange(len(ids_b))], rtol=0, atol=1e-6)
    else:
        assert (pairs["a_second"] == -1).all() and np.isneginf(pairs["r_second"]).all()

    best_r, second_r = reference_top2(corr.T)
    np.testing.assert_array_equal(reverse["a_feature"], ids_a)
    np.testing.assert_array_equal(reverse["b_best"], ids_b[best_r])
    np.testing.assert_allclose(reverse["r_best"], corr[np.arange(len(ids_a)), best_r], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(reverse["b_second"], ids_b[second_r])
    np.testing.assert_allclose(reverse["r_second"], corr[np.arange(len(ids_a)), second_r], rtol=0, atol=1e-6)

    np.testing.assert_array_equal(pairs["mutual"], best_r[best] == np.arange(len(ids_b)))
    counts = np.bincount(pairs["a_partner"], minlength=f_a)
    np.testing.assert_array_equal(pairs["multiplicity"], counts[pairs["a_partner"]])
    assert not pairs.isna().any().any() and not reverse.isna().any().any()


@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_features_that_never_cofire_have_negative_correlation(method):
    a = sp.csr_matrix(np.array([[1.0], [0.0], [0.0], [0.0]], dtype=np.float32))
    b = sp.csr_matrix(np.array([[0.0], [1.0], [0.0], [0.0]], dtype=np.float32))
    result = run(method, a, b, prefix=256)
    assert result.pairs["r"].iloc[0] == pytest.approx(-1 / 3)


@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_ties_go_to_the_lowest_index(method):
    column = np.array([[1.0], [0.0], [2.0], [0.0], [0.0]], dtype=np.float32)
    other = np.array([[0.0], [0.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    # A: 0 dead; 1, 2 identical (tie at r = 1, co-firing); 3, 4 identical and never co-firing with B's feature
    a = sp.csr_matrix(np.hstack([column * 0, column, column, other, other]))
    lonely = np.array([[0.0], [0.0], [0.0], [0.0], [1.0]], dtype=np.float32)  # co-fires with no A feature
    b = sp.csr_matrix(np.hstack([column, lonely]))
    result = run(method, a, b, prefix=2)
    pairs = result.pairs.set_index("b_feature")
    assert (pairs.loc[0, "a_partner"], pairs.loc[0, "a_second"]) == (1, 2)
    assert pairs.loc[0, "r"] == pytest.approx(1.0) and pairs.loc[0, "r_second"] == pytest.approx(1.0)
    assert (pairs.loc[1, "a_partner"], pairs.loc[1, "a_second"]) == (3, 4)  # smallest mean/sd: -0.5 * 0.5 each
    assert pairs.loc[1, "r"] == pytest.approx(-0.25) and pairs.loc[1, "r_second"] == pytest.approx(-0.25)


def test_all_dead_is_a_clear_error():
    a = sp.csr_matrix((5, 3), dtype=np.float32)
    b = sp.csr_matrix(np.eye(5, 3, dtype=np.float32))
    with pytest.raises(InputError, match="no feature of one SAE is alive"):
        pair_sparse(a, b)


def test_sparse_pairing_refuses_negative_codes():
    a = sp.csr_matrix(np.array([[1.0], [-1.0]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"non-negative codes.*pairing\.method: dense"):
        pair_sparse(a, a)


def test_float32_caches_give_float64_statistics_and_correlations():
    """A dense near-constant feature: float32 sums of x and x^2 put its sd off by orders of magnitude."""
    rng = np.random.default_rng(0)
    n = 20000
    dense = np.zeros((n, 4), dtype=np.float32)
    dense[:, 0] = 1000 + 1e-3 * rng.random(n)  # fires on every token, nearly constant
    dense[:, 1] = rng.uniform(0.5, 1.5, n)  # fires on every token
    dense[:, 2] = (rng.random(n) < 0.05) * (dense[:, 0] - 1000) * 1e3  # sparse, follows feature 0's wiggle
    dense[:, 3] = (rng.random(n) < 0.1) * rng.random(n)
    codes = sp.csr_matrix(dense)
    reference = dense.astype(np.float64)
    stats = feature_stats(codes)
    np.testing.assert_allclose(stats.mean, reference.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.std, reference.std(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(stats.support, (dense != 0).sum(axis=0))
    other = sp.csr_matrix(np.column_stack([dense[:, 2] * rng.uniform(0.9, 1.1, n), dense[:, 0] - 999.9995, dense[:, 3] + dense[:, 1]]))
    corr, live_a, _ = dense_reference(codes, other)
    assert live_a.all()
    for method in ("sparse", "dense"):
        result = run(method, codes, other, prefix=256)
        # the cross moment E[ab] - mu_a mu_b still cancels: ~1e-16 * mu^2 / var = 1e-9 for the near-constant feature
        np.testing.assert_allclose(result.pairs["r"], corr.max(axis=0), rtol=0, atol=1e-8)


@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_features_below_the_minimum_support_are_counted_and_not_paired(method):
    """Two features that fire once, on the same token, correlate perfectly: support keeps them out."""
    rng = np.random.default_rng(1)
    a = (rng.random((200, 3)) < 0.2) * rng.uniform(0.5, 1.5, (200, 3))
    b = (rng.random((200, 3)) < 0.2) * rng.uniform(0.5, 1.5, (200, 3))
    a[:, 0], b[:, 0] = 0, 0
    a[17, 0] = b[17, 0] = 1.0
    codes_a, codes_b = sp.csr_matrix(a.astype(np.float32)), sp.csr_matrix(b.astype(np.float32))
    kwargs = {"chunk_size": 7} | ({"prefix": 256} if method == "sparse" else {"token_chunk": 97})
    pair = pair_sparse if method == "sparse" else pair_dense
    loose = pair(codes_a, codes_b, min_support=1, **kwargs).pairs.set_index("b_feature")
    assert loose.loc[0, "a_partner"] == 0 and loose.loc[0, "r"] == pytest.approx(1.0)
    strict = pair(codes_a, codes_b, min_support=5, **kwargs)
    assert 0 not in strict.pairs["b_feature"].tolist() and 0 not in strict.pairs["a_partner"].tolist()
    assert (strict.rare_a, strict.rare_b, strict.dead_a, strict.dead_b) == (1, 1, 0, 0)


def test_assignment_is_the_heaviest_one_to_one_matching_of_all_pairs():
    """On these codes, restricting the matching to each feature's best and runner-up partners loses total r."""
    rng = np.random.default_rng(0)
    latent = (rng.random((300, 4)) < 0.3).astype(float)
    mix_a, mix_b = (rng.random((4, 4)) * (rng.random((4, 4)) < 0.5) for _ in range(2))
    a, b = (sp.csr_matrix(np.maximum(latent @ mix - 0.3, 0).astype(np.float32)) for mix in (mix_a, mix_b))
    result = pair_sparse(a, b, min_support=1)
    chosen = one_to_one(result.pairs, "assignment", result.edges).pairs
    corr, _live_a, _live_b = dense_reference(a, b)
    weights = np.maximum(corr, 0)
    rows, cols = weights.shape
    best = max(sum(weights[i, p[i]] for i in range(rows) if p[i] < cols) for p in itertools.permutations(range(max(rows, cols))))
    assert chosen["r"].sum() == pytest.approx(best, abs=1e-9)
    assert chosen["a_partner"].is_unique and chosen["b_feature"].is_unique
