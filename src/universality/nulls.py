"""Permutation nulls and the statistics reported beside every score.

Row shuffle: the pairing is broken by permuting Y's rows against X's. SVCCA reuses one
SVD per side: for a permutation P the score is the mean singular value of U_x^T P U_y.
RSA permutes rows and columns of Y's similarity matrix (a Mantel test).
p = (b + 1) / (m + 1), b = null scores >= observed among m permutations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from universality.similarity import (
    canonical_correlations,
    cosine_similarity_matrix,
    pearson,
    reduced_basis,
    rsa,
    svcca,
    upper_triangle,
)

MIN_PAIRS = 3


def p_value(observed: float, null: np.ndarray) -> float:
    return float((np.count_nonzero(null >= observed) + 1) / (len(null) + 1))


def summarize(observed: float, null: np.ndarray) -> dict[str, float]:
    sd = float(null.std(ddof=1)) if len(null) > 1 else 0.0
    mean = float(null.mean())
    return {
        "observed": float(observed),
        "null_mean": mean,
        "null_sd": sd,
        "z": (observed - mean) / sd if sd > 0 else 0.0,
        "p": p_value(observed, null),
    }


def svcca_row_shuffle(X: np.ndarray, Y: np.ndarray, variance: float, permutations: int, rng: np.random.Generator) -> np.ndarray:
    basis_x, basis_y = reduced_basis(X, variance), reduced_basis(Y, variance)
    return np.array([canonical_correlations(basis_x, basis_y[rng.permutation(len(Y))]).mean() for _ in range(permutations)])


def rsa_row_shuffle(X: np.ndarray, Y: np.ndarray, permutations: int, rng: np.random.Generator) -> np.ndarray:
    triangle_x = upper_triangle(cosine_similarity_matrix(X))
    sim_y = cosine_similarity_matrix(Y)
    rows, cols = np.triu_indices(len(Y), k=1)
    null = np.empty(permutations)
    for i in range(permutations):
        perm = rng.permutation(len(Y))
        null[i] = pearson(triangle_x, sim_y[perm[rows], perm[cols]])
    return null


def compare(X: np.ndarray, Y: np.ndarray, variance: float, permutations: int, seed: int | list[int]) -> dict[str, Any]:
    """SVCCA and RSA of paired rows with their row-shuffle nulls.

    Subsets that cannot be scored get a status instead of a score: fewer than MIN_PAIRS
    pairs, or one side whose rows are all the same decoder row (e.g. a bucket holding a
    single A feature and its many partners).
    """
    n = len(X)
    if n < MIN_PAIRS:
        return {"n": n, "status": "too few pairs"}
    if min(len(np.unique(X, axis=0)), len(np.unique(Y, axis=0))) < 2:
        return {"n": n, "status": "one distinct row"}
    rng = np.random.default_rng(seed)
    observed = svcca(X, Y, variance)
    svcca_null = svcca_row_shuffle(X, Y, variance, permutations, rng)
    rsa_observed = rsa(X, Y)
    rsa_null = rsa_row_shuffle(X, Y, permutations, rng)
    return {
        "n": n,
        "status": "ok",
        "svcca": summarize(observed.score, svcca_null) | {"k_x": observed.k_x, "k_y": observed.k_y},
        "rsa": summarize(rsa_observed, rsa_null),
        "null_scores": {"svcca": svcca_null, "rsa": rsa_null},
    }
