"""Similarity of paired decoder rows X (n x d_A) and Y (n x d_B).

SVCCA: centre columns, keep per side the smallest k whose squared singular values reach
`variance` of the total, then the canonical correlations of the two reduced spaces are
the singular values of U_x,k^T U_y,k; the score is their mean over min(k_x, k_y).
RSA: cosine-similarity matrices of the rows, Pearson correlation of their upper triangles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

METRICS = ("svcca", "pc1_corr", "rsa", "rsa_paper", "cka", "cka_debiased", "procrustes")
FLAT = 1e-12  # a spread below this share of the values' own scale is rounding noise: that side is constant


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
    _, u, s, _ = centred_svd(X)
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
    """Pearson r; undefined (nan) where either side is constant to within rounding (e.g. the cosines of one repeated row)."""
    x_dev, y_dev = x - x.mean(), y - y.mean()
    spread_x, spread_y = x_dev @ x_dev, y_dev @ y_dev
    if spread_x <= FLAT * (x @ x) or spread_y <= FLAT * (y @ y):
        return float("nan")
    return float(x_dev @ y_dev / np.sqrt(spread_x * spread_y))


def rsa(X: np.ndarray, Y: np.ndarray) -> float:
    if len(X) != len(Y):
        raise ValueError(f"RSA needs paired rows: X has {len(X)}, Y has {len(Y)}")
    return pearson(upper_triangle(cosine_similarity_matrix(X)), upper_triangle(cosine_similarity_matrix(Y)))


def one_row(X: np.ndarray) -> bool:
    """Whether the rows are all one row, to within rounding: their centred spread is about eps of their scale."""
    rows = np.asarray(X, dtype=np.float64)
    return bool(np.linalg.norm(rows - rows.mean(axis=0)) <= FLAT * np.linalg.norm(rows))


def centred_svd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The column-centred rows (float64) and their rank-trimmed SVD (u, s, vt)."""
    rows = np.asarray(X, dtype=np.float64)
    centred = rows - rows.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    if not s.size or one_row(rows):
        raise ValueError("similarity needs rows that are not all identical")
    rank = int((s > s[0] * 1e-12).sum())
    return centred, u[:, :rank], s[:rank], vt[:rank]


def principal_basis(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors and singular values of the column-centred rows (float64, rank-trimmed)."""
    _, u, s, _ = centred_svd(X)
    return u, s


def cca(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """All canonical correlations of the two full-rank row spaces (float64)."""
    return canonical_correlations(principal_basis(X)[0], principal_basis(Y)[0])


def pc1_corr(X: np.ndarray, Y: np.ndarray) -> float:
    """|Pearson r| of the first principal-component scores: the quantity the paper published as SVCCA."""
    return float(abs(principal_basis(X)[0][:, 0] @ principal_basis(Y)[0][:, 0]))


def centre_rows(X: np.ndarray) -> np.ndarray:
    """Each row minus its own mean (float64), as the paper's RSA variant does."""
    rows = np.asarray(X, dtype=np.float64)
    return rows - rows.mean(axis=1, keepdims=True)


RANK_DECIMALS = 12  # similarities are rounded to this before ranking, so copies of one row tie exactly


def rank_ties(values: np.ndarray) -> np.ndarray:
    """Similarities rounded so that equal ones (e.g. of duplicated rows) are ties whatever the rounding of the matmul."""
    return np.round(values, RANK_DECIMALS)


def gram(X: np.ndarray) -> np.ndarray:
    """Gram matrix X X^T of the rows (float64)."""
    rows = np.asarray(X, dtype=np.float64)
    return rows @ rows.T


def rsa_paper(X: np.ndarray, Y: np.ndarray) -> float:
    """The paper's RSA: rows centred, cosine similarity matrices, Spearman r of the upper triangles."""
    if len(X) != len(Y):
        raise ValueError(f"RSA needs paired rows: X has {len(X)}, Y has {len(Y)}")
    triangles = [rankdata(rank_ties(upper_triangle(cosine_similarity_matrix(centre_rows(Z))))) for Z in (X, Y)]
    return pearson(*triangles)


def linear_cka(X: np.ndarray, Y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA; `debiased` uses the unbiased HSIC estimator (needs n >= 4)."""
    if len(X) != len(Y):
        raise ValueError(f"CKA needs paired rows: X has {len(X)}, Y has {len(Y)}")
    if one_row(X) or one_row(Y):
        return float("nan")
    K, L = gram(X), gram(Y)
    hsic = unbiased_hsic if debiased else _biased_hsic
    denominator = np.sqrt(hsic(K, K) * hsic(L, L))
    return float(hsic(K, L) / denominator) if denominator > 0 else float("nan")  # a constant side: undefined


def _biased_hsic(K: np.ndarray, L: np.ndarray) -> float:
    centre = np.eye(len(K)) - 1.0 / len(K)
    return float(np.sum((centre @ K @ centre) * L))


def unbiased_hsic(K: np.ndarray, L: np.ndarray) -> float:
    n = len(K)
    if n < 4:
        raise ValueError(f"debiased CKA needs at least 4 rows, got {n}")
    K, L = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    ones_k, ones_l = K.sum(axis=0), L.sum(axis=0)
    value = np.sum(K * L) + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) - 2.0 * (ones_k @ ones_l) / (n - 2)
    return float(value / (n * (n - 3)))


def procrustes(X: np.ndarray, Y: np.ndarray) -> float:
    """Orthogonal Procrustes similarity in [0, 1]: columns centred, the narrower side zero-padded,
    both scaled to unit Frobenius norm; the nuclear norm of X^T Y (1 - half the squared distance)."""
    if len(X) != len(Y):
        raise ValueError(f"Procrustes needs paired rows: X has {len(X)}, Y has {len(Y)}")
    if one_row(X) or one_row(Y):
        return float("nan")
    width = max(X.shape[1], Y.shape[1])
    padded = []
    for Z in (X, Y):
        Z = np.asarray(Z, dtype=np.float64)
        Z = np.pad(Z - Z.mean(axis=0), ((0, 0), (0, width - Z.shape[1])))
        padded.append(Z / np.linalg.norm(Z))
    return float(np.linalg.svd(padded[0].T @ padded[1], compute_uv=False).sum())
