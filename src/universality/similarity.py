"""Similarity of paired decoder rows X (n x d_A) and Y (n x d_B).

SVCCA: centre columns, keep per side the smallest k whose squared singular values reach
`variance` of the total, then the canonical correlations of the two reduced spaces are
the singular values of U_x,k^T U_y,k; the score is their mean over min(k_x, k_y).
RSA: cosine-similarity matrices of the rows, Pearson correlation of their upper triangles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SVCCAResult:
    score: float
    k_x: int
    k_y: int
    n: int
    correlations: np.ndarray


def kept_dimensions(singular_values: np.ndarray, variance: float) -> int:
    """Smallest k with sum_{i<=k} s_i^2 / sum_i s_i^2 >= variance (the true 99% rule)."""
    energy = singular_values.astype(np.float64) ** 2
    cumulative = np.cumsum(energy) / energy.sum()
    return int(np.searchsorted(cumulative, variance - 1e-12) + 1)


def reduced_basis(X: np.ndarray, variance: float) -> np.ndarray:
    """Orthonormal basis (n x k) of the top-k principal directions of the column-centred rows."""
    centred = np.asarray(X, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    s = s[s > s[0] * 1e-12] if s.size and s[0] > 0 else s[:0]
    if s.size == 0:
        raise ValueError("SVCCA needs rows that are not all identical")
    return u[:, : kept_dimensions(s, variance)]


def canonical_correlations(basis_x: np.ndarray, basis_y: np.ndarray) -> np.ndarray:
    values = np.linalg.svd(basis_x.T @ basis_y, compute_uv=False)
    return np.clip(values, 0.0, 1.0)


def svcca(X: np.ndarray, Y: np.ndarray, variance: float = 0.99) -> SVCCAResult:
    if len(X) != len(Y):
        raise ValueError(f"SVCCA needs paired rows: X has {len(X)}, Y has {len(Y)}")
    basis_x, basis_y = reduced_basis(X, variance), reduced_basis(Y, variance)
    correlations = canonical_correlations(basis_x, basis_y)
    return SVCCAResult(
        score=float(correlations.mean()),
        k_x=basis_x.shape[1],
        k_y=basis_y.shape[1],
        n=len(X),
        correlations=correlations,
    )


def cosine_similarity_matrix(X: np.ndarray) -> np.ndarray:
    rows = np.asarray(X, dtype=np.float64)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-300)
    return rows @ rows.T


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices(len(matrix), k=1)]


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator > 0 else 0.0


def rsa(X: np.ndarray, Y: np.ndarray) -> float:
    if len(X) != len(Y):
        raise ValueError(f"RSA needs paired rows: X has {len(X)}, Y has {len(Y)}")
    return pearson(upper_triangle(cosine_similarity_matrix(X)), upper_triangle(cosine_similarity_matrix(Y)))
