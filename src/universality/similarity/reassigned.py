"""Every similarity metric of (A_distinct[pi][group], Y) for many reassignments pi, from group statistics.

The group (multiplicity-preserving) null keeps every B row in place and reassigns the G
distinct A rows across the B groups, whatever their sizes: row i of X becomes
D[pi[group[i]]]. Unless all groups have one size, X's column means and Gram matrix change
with pi, so nothing computed for the observed X can be reused; instead every metric is
written in terms of G-level quantities, so one reassignment costs O(G d_A d_B + d_A^3 + G^2)
(the last for the group-pair sums), never an n x n matrix:

- with s the group sizes and S the group sums of the centred Y rows, X^T Y_c = D[pi]^T S and
  X_c^T X_c = D[pi]^T diag(s) D[pi] - n mu mu^T (mu = s^T D[pi] / n): SVCCA, pc1_corr, CKA and
  Procrustes follow from these d x d matrices exactly as in `metrics.py`;
- an entry (i, j) of X's similarity matrix depends only on the groups of i and j, so RSA,
  the paper's Spearman RSA and debiased CKA are sums over group pairs of the G x G similarity
  of D, weighted by how many entries (and which of Y's) each group pair holds.

Y's side (its centred Gram, its similarity triangle summed per group pair, its ranks) is
computed once. `tests/test_nulls.py` checks every metric against `metrics.py` on X built
explicitly.
"""

from __future__ import annotations

import numpy as np
import torch

from universality.similarity.metrics import centre_rows, cosine_similarity_matrix, gram, kept_dimensions, rank_ties, self_hsic_vanishes, unbiased_hsic
from universality.similarity.permutations import METRICS, symmetric_ranks

_RANK_TOLERANCE = 1e-24  # eigenvalues (squared singular values) below this share of the largest count as zero, as in `centred_svd`


class ReassignedScores:
    """Scores of X = D[pi][group] against a fixed Y, for batches of reassignments pi (see the module docstring)."""

    def __init__(self, distinct_a: np.ndarray, group: np.ndarray, Y: np.ndarray, variance: float):
        self.D = np.asarray(distinct_a, dtype=np.float64)
        self.group = np.asarray(group)
        self.G, self.n, self.variance = len(self.D), len(self.group), variance
        self.sizes = np.bincount(self.group, minlength=self.G).astype(np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        y_c = Y - Y.mean(axis=0)
        self.group_sums_y = self._group_sums(y_c)
        cyy = y_c.T @ y_c
        self.cyy_norm, self.y_trace = np.linalg.norm(cyy), np.trace(cyy)
        eigenvalues, vectors = np.linalg.eigh(cyy)
        k_y = kept_dimensions(np.sqrt(np.clip(eigenvalues[::-1], 0, None)), variance)
        self.w_y = vectors[:, ::-1][:, :k_y] / np.sqrt(eigenvalues[::-1][:k_y])
        self.k_y, self.pc1_y = k_y, vectors[:, -1] / np.sqrt(eigenvalues[-1])
        # group pairs (k <= l) and how many upper-triangle entries each holds
        self.k_idx, self.l_idx = np.triu_indices(self.G)
        s = self.sizes
        self.entries = np.where(self.k_idx == self.l_idx, s[self.k_idx] * (s[self.k_idx] - 1) / 2, s[self.k_idx] * s[self.l_idx])
        self.rsa_y = self._triangle_stats(cosine_similarity_matrix(Y))
        self.rank_y = self._triangle_stats(symmetric_ranks(cosine_similarity_matrix(centre_rows(Y))))
        self.cos_d = cosine_similarity_matrix(self.D)
        self.cos_d_centred = cosine_similarity_matrix(centre_rows(self.D))
        self.rank_values, self.rank_inverse = np.unique(rank_ties(self.cos_d_centred[self.k_idx, self.l_idx]), return_inverse=True)
        self.gram_d = gram(self.D)
        gram_y = gram(Y)
        np.fill_diagonal(gram_y, 0.0)
        self.hsic_y = {
            "pair_sums": self._pair_sums(gram_y),
            "total": gram_y.sum(),
            "row_sums": self._group_sums(gram_y.sum(axis=1)[:, None])[:, 0],
            "self": unbiased_hsic(gram(Y), gram(Y)),
        }
        self.hsic_y["vanishes"] = self_hsic_vanishes(self.hsic_y["self"], gram(Y))

    def _group_sums(self, rows: np.ndarray) -> np.ndarray:
        sums = np.zeros((self.G, rows.shape[1]))
        np.add.at(sums, self.group, rows)
        return sums

    def _pair_sums(self, matrix: np.ndarray) -> np.ndarray:
        """Sum of the upper-triangle entries of a symmetric n x n matrix per group pair (k <= l)."""
        index = (self.group[:, None] * self.G + self.group[None, :]).ravel()
        full = np.bincount(index, weights=np.triu(matrix, k=1).ravel(), minlength=self.G**2).reshape(self.G, self.G)
        full = full + np.triu(full.T, k=1)  # entries with i < j can fall below the group diagonal
        return full[self.k_idx, self.l_idx]

    def _triangle_stats(self, matrix: np.ndarray) -> dict[str, float | np.ndarray]:
        upper = matrix[np.triu_indices(self.n, k=1)]
        return {"pair_sums": self._pair_sums(matrix), "mean": upper.mean(), "norm": np.linalg.norm(upper - upper.mean())}

    def scores(self, reassignments: np.ndarray) -> dict[str, np.ndarray]:
        """Scores for a batch of reassignments (B x G: group k gets distinct A row pi[k])."""
        reassignments = np.atleast_2d(reassignments)
        out = self._linear(reassignments)
        out["rsa"] = np.array([self._pearson(self.cos_d[p[self.k_idx], p[self.l_idx]], self.rsa_y) for p in reassignments])
        out["rsa_paper"] = np.array([self._pearson(self._ranks(p), self.rank_y) for p in reassignments])
        out["cka_debiased"] = np.array([self._debiased_cka(p) for p in reassignments])
        return {metric: out[metric] for metric in METRICS}

    def _linear(self, reassignments: np.ndarray) -> dict[str, np.ndarray]:
        """SVCCA, pc1_corr, CKA and Procrustes from the d x d cross and Gram matrices."""
        rows = torch.as_tensor(self.D[reassignments])  # B x G x d_A
        sizes = torch.as_tensor(self.sizes)
        mean = torch.einsum("g,bgd->bd", sizes, rows) / self.n
        cxx = torch.einsum("bgi,g,bgj->bij", rows, sizes, rows) - self.n * mean[:, :, None] * mean[:, None, :]
        cross = rows.transpose(1, 2) @ torch.as_tensor(self.group_sums_y)  # B x d_A x d_B
        eigenvalues, vectors = torch.linalg.eigh(cxx)
        eigenvalues, vectors = eigenvalues.flip(-1).clamp(min=0.0), vectors.flip(-1)
        out = {
            "cka": ((cross**2).sum(dim=(1, 2)) / (torch.linalg.matrix_norm(cxx) * self.cyy_norm)).numpy(),
            "procrustes": (torch.linalg.svdvals(cross).sum(dim=1) / torch.sqrt(eigenvalues.sum(dim=1) * self.y_trace)).numpy(),
        }
        pc1_x = vectors[:, :, 0] / torch.sqrt(eigenvalues[:, :1])
        out["pc1_corr"] = torch.einsum("bi,bij,j->b", pc1_x, cross, torch.as_tensor(self.pc1_y)).abs().numpy()
        svcca = []
        for value, vector, c in zip(eigenvalues.numpy(), vectors.numpy(), cross.numpy()):
            rank = int((value > value[0] * _RANK_TOLERANCE).sum())
            k_x = kept_dimensions(np.sqrt(value[:rank]), self.variance)
            w_x = vector[:, :k_x] / np.sqrt(value[:k_x])
            svcca.append(np.clip(np.linalg.svd(w_x.T @ c @ self.w_y, compute_uv=False), 0.0, 1.0).mean())
        out["svcca"] = np.array(svcca)
        return out

    def _pearson(self, values: np.ndarray, y: dict) -> float:
        """Pearson r over the upper triangle: X's entries take `values` per group pair, Y's are summed per pair."""
        deviation = values - (self.entries * values).sum() / self.entries.sum()  # centred first: no cancellation
        cross = (deviation * y["pair_sums"]).sum() - y["mean"] * (self.entries * deviation).sum()
        denominator = np.sqrt((self.entries * deviation**2).sum()) * y["norm"]
        return float(cross / denominator) if denominator > 0 else np.nan

    def _ranks(self, reassignment: np.ndarray) -> np.ndarray:
        """Average ranks of X's centred-cosine triangle, per group pair: each distinct value weighted by its entries."""
        where = np.empty(self.G, dtype=np.int64)
        where[reassignment] = np.arange(self.G)  # which group holds distinct row a
        k, l = np.minimum(where[self.k_idx], where[self.l_idx]), np.maximum(where[self.k_idx], where[self.l_idx])
        weight_of_d_pair = self.entries[_pair_index(k, l, self.G)]
        weight = np.bincount(self.rank_inverse, weights=weight_of_d_pair, minlength=len(self.rank_values))
        value_rank = np.cumsum(weight) - weight + (weight + 1) / 2
        d_pair_rank = value_rank[self.rank_inverse]
        return d_pair_rank[_pair_index(np.minimum(reassignment[self.k_idx], reassignment[self.l_idx]),
                                       np.maximum(reassignment[self.k_idx], reassignment[self.l_idx]), self.G)]  # fmt: skip

    def _debiased_cka(self, reassignment: np.ndarray) -> float:
        """Debiased CKA from the unbiased HSIC estimator written over group pairs."""
        K = self.gram_d[np.ix_(reassignment, reassignment)]
        hsic_xy = _group_hsic(K, self.sizes, self.n, self.entries, (self.k_idx, self.l_idx), **{k: self.hsic_y[k] for k in ("pair_sums", "total", "row_sums")})
        hsic_xx = _group_hsic(K, self.sizes, self.n, self.entries, (self.k_idx, self.l_idx), self_hsic=True)
        if self_hsic_vanishes(hsic_xx, K) or self.hsic_y["vanishes"]:
            return np.nan
        return float(hsic_xy / np.sqrt(hsic_xx * self.hsic_y["self"]))


def _pair_index(k: np.ndarray, l: np.ndarray, G: int) -> np.ndarray:
    """Position of group pair (k <= l) in `np.triu_indices(G)` order."""
    return k * G - k * (k - 1) // 2 + (l - k)


def _group_hsic(K, sizes, n, entries, pairs, pair_sums=None, total=None, row_sums=None, self_hsic=False) -> float:
    """Unbiased HSIC (Song et al., 2012) of X's Gram K (G x G, per group) with Y's (given by its group sums), or with itself."""
    k_values = K[pairs]
    k_row = K @ sizes - np.diag(K)  # row sum of X's Gram (diagonal zeroed) for a row of each group
    k_total = 2 * (entries * k_values).sum()
    if self_hsic:
        trace, l_total, products = 2 * (entries * k_values**2).sum(), k_total, (sizes * k_row**2).sum()
    else:
        trace, l_total, products = 2 * (k_values * pair_sums).sum(), total, (k_row * row_sums).sum()
    value = trace + k_total * l_total / ((n - 1) * (n - 2)) - 2.0 * products / (n - 2)
    return value / (n * (n - 3))
