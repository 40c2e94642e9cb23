import numpy as np
import pytest
import torch

from universality.similarity.permutations import METRICS, PermutedScores
from universality.similarity.metrics import linear_cka, pc1_corr, procrustes, rsa, rsa_paper, svcca

DEFINITIONS = {
    "svcca": lambda X, Y: svcca(X, Y, 0.99).score,
    "pc1_corr": pc1_corr,
    "rsa": rsa,
    "rsa_paper": rsa_paper,
    "cka": linear_cka,
    "cka_debiased": lambda X, Y: linear_cka(X, Y, debiased=True),
    "procrustes": procrustes,
}


@pytest.mark.parametrize(("n", "d_a", "d_b"), [(40, 6, 9), (25, 12, 5), (60, 3, 3)])
def test_permuted_scores_equal_the_definitions_on_permuted_rows(n, d_a, d_b):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, d_a)) @ np.diag(np.linspace(3, 0.2, d_a))
    Y = X[:, : min(d_a, d_b)] @ rng.standard_normal((min(d_a, d_b), d_b)) + 0.5 * rng.standard_normal((n, d_b))
    permutations = np.stack([np.arange(n)] + [rng.permutation(n) for _ in range(4)])
    scores = PermutedScores(X, Y, 0.99).scores(permutations)
    assert set(scores) == set(METRICS)
    for metric, definition in DEFINITIONS.items():
        expected = [definition(X, Y[p]) for p in permutations]
        np.testing.assert_allclose(scores[metric], expected, rtol=0, atol=1e-10, err_msg=metric)


def test_float32_cross_products_stay_within_float32_resolution():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((500, 32)), rng.standard_normal((500, 48))
    permutations = np.stack([rng.permutation(500) for _ in range(3)])
    exact = PermutedScores(X, Y, 0.99, metrics=["svcca"]).scores(permutations)["svcca"]
    fast = PermutedScores(X, Y, 0.99, metrics=["svcca"], gemm_dtype=torch.float32).scores(permutations)["svcca"]
    np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-5)


def test_unknown_metrics_and_unpaired_rows_are_refused():
    X = np.random.default_rng(2).standard_normal((10, 3))
    with pytest.raises(ValueError, match="unknown metric"):
        PermutedScores(X, X, 0.99, metrics=["svcca", "cca_magic"])
    with pytest.raises(ValueError, match="paired rows"):
        PermutedScores(X, X[:-1], 0.99)


def test_svcca_alone_takes_the_basis_product_and_agrees():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((80, 7)), rng.standard_normal((80, 11))
    permutations = np.stack([rng.permutation(80) for _ in range(3)])
    alone = PermutedScores(X, Y, 0.9, metrics=["svcca"]).scores(permutations)["svcca"]
    together = PermutedScores(X, Y, 0.9, metrics=["svcca", "cka"]).scores(permutations)["svcca"]
    np.testing.assert_allclose(alone, together, rtol=0, atol=1e-12)
    np.testing.assert_allclose(alone, [svcca(X, Y[p], 0.9).score for p in permutations], rtol=0, atol=1e-12)
