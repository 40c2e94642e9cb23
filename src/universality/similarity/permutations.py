"""Every similarity metric of (X, P Y) for many row permutations P, reusing all that P leaves alone.

Columns are centred once (centring commutes with a row permutation). One SVD per side gives
W = V_k S_k^-1 with U_k = X_c W, so for each P a single cross product C = X_c^T P Y_c
(d_A x d_B, batched, on GPU when present) serves (SVCCA alone uses U_x,k^T P U_y,k instead):

- SVCCA: the canonical correlations are the singular values of W_x^T C W_y (k_x x k_y);
- linear CKA (biased): ||C||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F);
- Procrustes (zero-padded): ||C||_* / (||X_c||_F ||Y_c||_F) (zero padding leaves C's singular values);

pc1_corr permutes the first principal-component scores; RSA permutes rows and columns of Y's
similarity matrix (and, for the paper's Spearman variant, of its rank matrix, ranked once);
debiased CKA permutes Y's Gram matrix. The definitions these reproduce are in `metrics.py`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata

from universality.similarity.metrics import centre_rows, centred_svd, cosine_similarity_matrix, gram, kept_dimensions, rank_ties, self_hsic_vanishes, unbiased_hsic, upper_triangle

_GATHER_BUDGET = 2**24  # similarity-matrix entries gathered at once for RSA
METRICS = ("svcca", "pc1_corr", "rsa", "rsa_paper", "cka", "cka_debiased", "procrustes")


def symmetric_ranks(matrix: np.ndarray) -> np.ndarray:
    """The matrix with its upper-triangle entries replaced by their average ranks (mirrored below)."""
    rows, cols = np.triu_indices(len(matrix), k=1)
    ranks = np.zeros_like(matrix)
    ranks[rows, cols] = rankdata(rank_ties(matrix[rows, cols]))
    return ranks + ranks.T


class PermutedScores:
    """Scores of X against row-permuted Y for the chosen metrics (see the module docstring)."""

    def __init__(self, X, Y, variance: float, metrics=METRICS, device: str = "cpu", gemm_dtype: torch.dtype = torch.float64):
        if len(X) != len(Y):
            raise ValueError(f"similarity needs paired rows: X has {len(X)}, Y has {len(Y)}")
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metric(s) {sorted(unknown)}; choose from {METRICS}")
        self.metrics, self.n, self.device, self.gemm_dtype = tuple(metrics), len(X), device, gemm_dtype
        x_c, u_x, s_x, vt_x = centred_svd(X)
        y_c, u_y, s_y, vt_y = centred_svd(Y)
        self.k_x, self.k_y = kept_dimensions(s_x, variance), kept_dimensions(s_y, variance)
        self.w_x = torch.as_tensor(vt_x[: self.k_x].T / s_x[: self.k_x], device=device)
        self.w_y = torch.as_tensor(vt_y[: self.k_y].T / s_y[: self.k_y], device=device)
        self.x_c = torch.as_tensor(x_c, device=device, dtype=gemm_dtype)
        self.y_c = torch.as_tensor(y_c, device=device, dtype=gemm_dtype)
        self.u_x = torch.as_tensor(u_x[:, : self.k_x], device=device, dtype=gemm_dtype)
        self.u_y = torch.as_tensor(u_y[:, : self.k_y], device=device, dtype=gemm_dtype)
        self.cka_norm = np.linalg.norm(x_c.T @ x_c) * np.linalg.norm(y_c.T @ y_c)
        self.frobenius = np.linalg.norm(x_c) * np.linalg.norm(y_c)
        self.pc1 = u_x[:, 0], u_y[:, 0]
        self.triangle = np.triu_indices(self.n, k=1)
        if "rsa" in metrics:
            self.rsa_x, self.rsa_y = upper_triangle(cosine_similarity_matrix(X)), cosine_similarity_matrix(Y)
        if "rsa_paper" in metrics:
            self.rank_x = rankdata(rank_ties(upper_triangle(cosine_similarity_matrix(centre_rows(X)))))
            self.rank_y = symmetric_ranks(cosine_similarity_matrix(centre_rows(Y)))
        if "cka_debiased" in metrics:
            self.gram_x, self.gram_y = gram(X), gram(Y)
            hsic_x, hsic_y = unbiased_hsic(self.gram_x, self.gram_x), unbiased_hsic(self.gram_y, self.gram_y)
            vanishes = self_hsic_vanishes(hsic_x, self.gram_x) or self_hsic_vanishes(hsic_y, self.gram_y)
            self.hsic_norm = np.nan if vanishes else np.sqrt(hsic_x * hsic_y)  # undefined: a status downstream

    def scores(self, permutations: np.ndarray) -> dict[str, np.ndarray]:
        """Scores for a batch of permutations (B x n: row i of P Y is Y[perm[i]])."""
        permutations = np.atleast_2d(permutations)
        out = {}
        index = torch.as_tensor(permutations, device=self.device)
        if {"cka", "procrustes"} & set(self.metrics):
            cross = torch.matmul(self.x_c.T, self.y_c[index]).double()  # B x d_A x d_B
            if "svcca" in self.metrics:
                out["svcca"] = _mean_singular_values(self.w_x.T @ cross @ self.w_y)
            if "cka" in self.metrics:
                out["cka"] = (cross**2).sum(dim=(1, 2)).cpu().numpy() / self.cka_norm
            if "procrustes" in self.metrics:
                out["procrustes"] = torch.linalg.svdvals(cross).sum(dim=1).cpu().numpy() / self.frobenius
        elif "svcca" in self.metrics:  # SVCCA alone: the smaller product U_x,k^T P U_y,k
            out["svcca"] = _mean_singular_values(torch.matmul(self.u_x.T, self.u_y[index]).double())
        if "pc1_corr" in self.metrics:
            out["pc1_corr"] = np.abs(self.pc1[1][permutations] @ self.pc1[0])
        if "rsa" in self.metrics:
            out["rsa"] = self._triangle_correlations(self.rsa_x, self.rsa_y, permutations)
        if "rsa_paper" in self.metrics:
            out["rsa_paper"] = self._triangle_correlations(self.rank_x, self.rank_y, permutations)
        if "cka_debiased" in self.metrics:
            out["cka_debiased"] = np.array([self._debiased_hsic(p) for p in permutations]) / self.hsic_norm
        return out


    def _triangle_correlations(self, fixed: np.ndarray, matrix: np.ndarray, permutations: np.ndarray) -> np.ndarray:
        """Pearson r of `fixed` (an upper triangle) with the upper triangle of P matrix P^T, per permutation."""
        rows, cols = self.triangle
        fixed = fixed - fixed.mean()
        per_batch = max(1, _GATHER_BUDGET // len(rows))
        out = []
        for start in range(0, len(permutations), per_batch):
            batch = permutations[start : start + per_batch]
            permuted = matrix[batch[:, rows], batch[:, cols]]
            permuted -= permuted.mean(axis=1, keepdims=True)
            out.append(permuted @ fixed / (np.linalg.norm(permuted, axis=1) * np.linalg.norm(fixed)))
        return np.concatenate(out)

    def _debiased_hsic(self, permutation: np.ndarray) -> float:
        """Unbiased HSIC of the Gram matrices K and P L P^T (Song et al., 2012), diagonals zeroed once."""
        return unbiased_hsic(self.gram_x, self.gram_y[np.ix_(permutation, permutation)])


def _mean_singular_values(matrices: torch.Tensor) -> np.ndarray:
    """Mean singular value of each matrix in a batch, clipped to [0, 1], via the smaller Gram matrix's eigenvalues."""
    gram = matrices @ matrices.transpose(1, 2) if matrices.shape[1] <= matrices.shape[2] else matrices.transpose(1, 2) @ matrices
    singular = torch.linalg.eigvalsh(gram).clamp(min=0.0).sqrt().clamp(max=1.0)
    return singular.mean(dim=1).cpu().numpy()
