import numpy as np
import pytest
import scipy.sparse as sp

from universality.pairing import pair_features


def random_codes(rng, n_tokens, n_features, density, dead=()):
    codes = sp.random(n_tokens, n_features, density=density, format="csr", random_state=rng, dtype=np.float64)
    codes.data = np.abs(codes.data) + 0.1
    codes = codes.tolil()
    for feature in dead:
        codes[:, feature] = 0
    return codes.tocsr().astype(np.float32)


def dense_reference(codes_a, codes_b):
    """float64 dense Pearson matrix (F_A x F_B) with dead features masked."""
    a, b = codes_a.toarray().astype(np.float64), codes_b.toarray().astype(np.float64)
    za, zb = a - a.mean(0), b - b.mean(0)
    sa, sb = np.sqrt((za**2).mean(0)), np.sqrt((zb**2).mean(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (za.T @ zb) / len(a) / np.outer(sa, sb)
    corr[sa == 0, :] = -np.inf
    return corr, sa > 0, sb > 0


@pytest.mark.parametrize(("n_tokens", "f_a", "f_b", "density", "chunk"), [(500, 40, 60, 0.05, 7), (300, 90, 30, 0.1, 64), (2000, 25, 25, 0.01, 3)])
def test_matches_dense_float64_reference(n_tokens, f_a, f_b, density, chunk):
    rng = np.random.default_rng(n_tokens)
    codes_a = random_codes(rng, n_tokens, f_a, density, dead=(0, 3))
    codes_b = random_codes(rng, n_tokens, f_b, density, dead=(1,))
    result = pair_features(codes_a, codes_b, chunk_size=chunk)
    corr, live_a, live_b = dense_reference(codes_a, codes_b)

    assert result.dead_a == 2 and result.dead_b == 1
    np.testing.assert_array_equal(result.pairs["b_feature"], np.flatnonzero(live_b))
    corr_live = corr[:, live_b]
    np.testing.assert_array_equal(result.pairs["a_partner"], corr_live.argmax(axis=0))
    np.testing.assert_allclose(result.pairs["r"], corr_live.max(axis=0), atol=1e-6)
    np.testing.assert_allclose(result.pairs["r_second"], np.sort(corr_live, axis=0)[-2], atol=1e-6)
    assert not np.isnan(result.pairs[["r", "r_second"]].to_numpy()).any()

    reverse = corr_live.argmax(axis=1)
    np.testing.assert_array_equal(result.reverse["b_best"], np.flatnonzero(live_b)[reverse[live_a]])
    expected_mutual = reverse[result.pairs["a_partner"]] == np.arange(live_b.sum())
    np.testing.assert_array_equal(result.pairs["mutual"], expected_mutual)
    counts = np.bincount(result.pairs["a_partner"], minlength=f_a)
    np.testing.assert_array_equal(result.pairs["multiplicity"], counts[result.pairs["a_partner"]])


def test_features_that_never_cofire_have_negative_correlation():
    a = sp.csr_matrix(np.array([[1.0], [0.0], [0.0], [0.0]], dtype=np.float32))
    b = sp.csr_matrix(np.array([[0.0], [1.0], [0.0], [0.0]], dtype=np.float32))
    result = pair_features(a, b)
    assert result.pairs["r"].iloc[0] == pytest.approx(-1 / 3)


def test_ties_go_to_the_lowest_index():
    column = np.array([[1.0], [0.0], [2.0], [0.0]], dtype=np.float32)
    a = sp.csr_matrix(np.hstack([column * 0, column, column * 3]))  # feature 0 dead, 1 and 2 tie
    b = sp.csr_matrix(column)
    result = pair_features(a, b)
    assert result.pairs["a_partner"].tolist() == [1]
    assert result.pairs["r"].iloc[0] == pytest.approx(1.0)


def test_all_dead_is_a_clear_error():
    a = sp.csr_matrix((5, 3), dtype=np.float32)
    b = sp.csr_matrix(np.eye(5, 3, dtype=np.float32))
    with pytest.raises(ValueError, match="every feature of one SAE is dead"):
        pair_features(a, b)
