import numpy as np
import pytest
from scipy.stats import ortho_group, spearmanr

from universality.similarity.metrics import cca, kept_dimensions, linear_cka, pc1_corr, procrustes, rsa, rsa_paper, svcca


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return rng.standard_normal((200, 12)) @ np.diag(np.linspace(3, 0.5, 12))


def test_kept_dimensions_uses_squared_singular_values():
    # energies 9, 4, 1 of total 14: 9/14 = 0.64, 13/14 = 0.93, 14/14 = 1
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 0.5) == 1
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 0.9) == 2
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 0.99) == 3
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 13 / 14) == 2


def test_svcca_of_a_rotation_is_one(rows):
    rotation = ortho_group.rvs(12, random_state=1)
    result = svcca(rows, rows @ rotation, 0.99)
    assert result.score == pytest.approx(1.0, abs=1e-10)
    assert result.k_x == result.k_y and result.n == 200


def test_svcca_ignores_isotropic_scaling_and_translation(rows):
    rng = np.random.default_rng(2)
    other = rng.standard_normal((200, 16))
    base = svcca(rows, other, 0.99).score
    assert svcca(rows * 7.5 + 3.0, other - 1.0, 0.99).score == pytest.approx(base, abs=1e-12)


def test_svcca_of_independent_data_is_far_below_one(rows):
    other = np.random.default_rng(3).standard_normal((200, 12))
    assert svcca(rows, other, 0.99).score < 0.3


def test_svcca_of_a_general_linear_map_into_more_dimensions(rows):
    linear_map = np.random.default_rng(4).standard_normal((12, 20))
    result = svcca(rows, rows @ linear_map, 1.0)
    assert result.score == pytest.approx(1.0, abs=1e-8)


def test_rsa_of_a_rotation_is_one_and_of_independent_rows_near_zero(rows):
    rotation = ortho_group.rvs(12, random_state=5)
    assert rsa(rows, rows @ rotation) == pytest.approx(1.0, abs=1e-12)
    other = np.random.default_rng(6).standard_normal((200, 12))
    assert abs(rsa(rows, other)) < 0.1


def test_unpaired_rows_are_refused(rows):
    with pytest.raises(ValueError, match="paired rows"):
        svcca(rows, rows[:-1])
    with pytest.raises(ValueError, match="paired rows"):
        rsa(rows, rows[:-1])


def kornblith_cka(X, Y):
    """Feature-space formula of linear CKA (Kornblith et al., 2019)."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


def test_linear_cka_matches_the_feature_space_formula(rows):
    other = np.random.default_rng(7).standard_normal((200, 9)) + rows[:, :9]
    assert linear_cka(rows, other) == pytest.approx(kornblith_cka(rows, other), rel=1e-12)


def test_debiased_cka_matches_a_direct_unbiased_hsic():
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((12, 5)), rng.standard_normal((12, 7))

    def hsic(K, L):  # Song et al. (2012), eq. 5, written out with explicit sums
        n = len(K)
        K, L = K * (1 - np.eye(n)), L * (1 - np.eye(n))
        term = np.trace(K @ L) + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2 / (n - 2) * np.ones(n) @ K @ L @ np.ones(n)
        return term / (n * (n - 3))

    K, L = X @ X.T, Y @ Y.T
    assert linear_cka(X, Y, debiased=True) == pytest.approx(hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L)), rel=1e-12)
    with pytest.raises(ValueError, match="at least 4 rows"):
        linear_cka(X[:3], Y[:3], debiased=True)


@pytest.mark.parametrize("metric", [lambda X, Y: linear_cka(X, Y), lambda X, Y: linear_cka(X, Y, debiased=True), procrustes, pc1_corr])
def test_rotation_gives_one_and_scaling_changes_nothing(rows, metric):
    rotation = ortho_group.rvs(12, random_state=9)
    assert metric(rows, rows @ rotation) == pytest.approx(1.0, abs=1e-10)
    other = np.random.default_rng(10).standard_normal((200, 12))
    assert metric(rows * 4.0, other * 0.5) == pytest.approx(metric(rows, other), abs=1e-12)


def test_procrustes_zero_pads_the_narrower_side(rows):
    rotation = ortho_group.rvs(12, random_state=11)
    wider = np.hstack([rows @ rotation, np.zeros((200, 6))])
    assert procrustes(rows, wider) == pytest.approx(1.0, abs=1e-10)
    assert procrustes(rows, np.random.default_rng(12).standard_normal((200, 18))) < 0.5


def test_pc1_corr_is_the_correlation_of_first_principal_component_scores(rows):
    other = rows[:, ::-1] + np.random.default_rng(13).standard_normal((200, 12))
    scores = [np.linalg.svd(Z - Z.mean(0), full_matrices=False)[0][:, 0] for Z in (rows, other)]
    assert pc1_corr(rows, other) == pytest.approx(abs(np.corrcoef(*scores)[0, 1]), abs=1e-12)


def test_a_general_linear_map_gives_cca_one_while_svcca_stays_below():
    scales = np.geomspace(10.0, 0.01, 12)
    X = np.random.default_rng(14).standard_normal((200, 12)) * scales
    mapped = X / scales**2  # B's strongest directions are A's weakest, which A's 99% cut drops
    assert np.allclose(cca(X, mapped), 1.0, atol=1e-8)
    assert svcca(X, mapped, 0.99).score < 0.5


def test_paper_rsa_is_spearman_of_row_centred_cosines(rows):
    other = np.random.default_rng(16).standard_normal((200, 7)) + rows[:, :7]
    centred = [Z - Z.mean(axis=1, keepdims=True) for Z in (rows, other)]
    triangles = [
        (Z / np.linalg.norm(Z, axis=1, keepdims=True) @ (Z / np.linalg.norm(Z, axis=1, keepdims=True)).T)[np.triu_indices(200, 1)]
        for Z in centred
    ]
    assert rsa_paper(rows, other) == pytest.approx(spearmanr(*triangles).statistic, abs=1e-12)
    assert rsa_paper(rows, rows * 3.0 + 5.0) == pytest.approx(1.0, abs=1e-12)


def test_cca_matches_the_covariance_eigenproblem():
    rng = np.random.default_rng(15)
    X = rng.standard_normal((300, 4))
    Y = X[:, :3] @ rng.standard_normal((3, 5)) + rng.standard_normal((300, 5))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    sxx, syy, sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    eig = np.linalg.eigvals(np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T))
    expected = np.sort(np.sqrt(np.clip(eig.real, 0, None)))[::-1]
    np.testing.assert_allclose(cca(X, Y), expected, atol=1e-10)
