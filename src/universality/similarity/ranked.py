"""The paper's Spearman RSA of (D[pi][group], Y) for batches of reassignments, exact, up to a size.

Ranks of the n(n-1)/2 similarities do not factor through d x d products, so this metric keeps
G x G matrices: entry (i, j) of X's centred-cosine matrix depends only on the groups of i and
j, so X's triangle is the G x G similarity of D weighted by how many entries each group pair
holds, and Y's rank triangle enters as its sums per group pair (computed once).

- All groups of one size (a row shuffle among them): the weighted multiset of X's values does
  not change with pi, so X's ranks are those of the identity moved: rank(k, l) = R[pi_k, pi_l].
- Sizes that differ: the weights move with pi, so the ranks are recomputed per reassignment
  from the G(G+1)/2 distinct values (average ranks of weighted ties).

Memory and time grow with G^2, so `nulls` runs this only up to `nulls.rsa_paper_max_n` pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from universality.similarity.metrics import centre_rows, cosine_similarity_matrix, rank_ties


def symmetric_ranks(matrix: np.ndarray) -> np.ndarray:
    """The matrix with its upper-triangle entries replaced by their average ranks (mirrored below)."""
    rows, cols = np.triu_indices(len(matrix), k=1)
    ranks = np.zeros_like(matrix)
    ranks[rows, cols] = rankdata(rank_ties(matrix[rows, cols]))
    return ranks + ranks.T


class RankedScores:
    """rsa_paper of D[pi][group] against Y (see the module docstring)."""

    def __init__(self, distinct_a: np.ndarray, group: np.ndarray, Y: np.ndarray):
        self.group = np.asarray(group)
        self.G, self.n = len(distinct_a), len(self.group)
        self.sizes = np.bincount(self.group, minlength=self.G).astype(np.float64)
        self.k_idx, self.l_idx = np.triu_indices(self.G)
        s = self.sizes
        self.entries = np.where(self.k_idx == self.l_idx, s[self.k_idx] * (s[self.k_idx] - 1) / 2, s[self.k_idx] * s[self.l_idx])
        y_ranks = symmetric_ranks(cosine_similarity_matrix(centre_rows(Y)))
        upper = y_ranks[np.triu_indices(self.n, k=1)]
        self.y_pair_sums, self.y_mean, self.y_norm = self._pair_sums(y_ranks), upper.mean(), np.linalg.norm(upper - upper.mean())
        similarity = cosine_similarity_matrix(centre_rows(distinct_a))
        self.values, self.value_of_pair = np.unique(rank_ties(similarity[self.k_idx, self.l_idx]), return_inverse=True)
        self.uniform = bool(np.all(s == s[0]))
        if self.uniform:
            ranks = self._ranks(np.arange(self.G))
            self.identity_ranks, self.identity_moments = _symmetric(ranks, self.k_idx, self.l_idx, self.G), self._pair_moments(ranks)
            self.y_weights = _symmetric(self.y_pair_sums, self.k_idx, self.l_idx, self.G) * (
                1 + np.eye(self.G)
            )  # diagonal counted once in the half-sum

    def _pair_sums(self, matrix: np.ndarray) -> np.ndarray:
        """Sum of the upper-triangle entries of a symmetric n x n matrix per group pair (k <= l)."""
        index = (self.group[:, None] * self.G + self.group[None, :]).ravel()
        full = np.bincount(index, weights=np.triu(matrix, k=1).ravel(), minlength=self.G**2).reshape(self.G, self.G)
        full = full + np.triu(full.T, k=1)  # entries with i < j can fall below the group diagonal
        return full[self.k_idx, self.l_idx]

    def scores(self, reassignments: np.ndarray) -> np.ndarray:
        """rsa_paper per reassignment (B x G: group k gets distinct A row pi[k])."""
        reassignments = np.atleast_2d(reassignments)
        if not self.uniform:
            return np.array([self._pearson(self._ranks(pi)) for pi in reassignments])
        # sum_kl R[pi_k, pi_l] W_kl = sum_k sum_b R[pi_k, b] W[k, inverse_b]: two row/column gathers, no G x G x B index
        cross = [(self.identity_ranks.take(pi, axis=0) * self.y_weights.take(np.argsort(pi), axis=1)).sum() / 2 for pi in reassignments]
        return self._pearson_of_cross(np.array(cross), self.identity_moments)

    def _pair_moments(self, ranks: np.ndarray) -> tuple[float, float]:
        """Mean of X's triangle ranks and the norm of their deviations (both weighted by entries)."""
        mean = (self.entries * ranks).sum() / self.entries.sum()
        return mean, np.sqrt((self.entries * (ranks - mean) ** 2).sum())

    def _pearson(self, ranks: np.ndarray) -> float:
        """Pearson r over the upper triangle: X's ranks per group pair against Y's rank sums per pair."""
        return float(self._pearson_of_cross((ranks * self.y_pair_sums).sum(), self._pair_moments(ranks)))

    def _pearson_of_cross(self, cross, moments: tuple[float, float]):
        """Pearson r from the sum of products of X's and Y's ranks (nan where either side's ranks are constant)."""
        mean, norm = moments
        denominator = norm * self.y_norm
        return (cross - mean * self.y_pair_sums.sum()) / denominator if denominator > 0 else np.nan * cross

    def _ranks(self, reassignment: np.ndarray) -> np.ndarray:
        """Average ranks of X's centred-cosine triangle, per group pair: each distinct value weighted by its entries."""
        where = np.empty(self.G, dtype=np.int64)
        where[reassignment] = np.arange(self.G)  # which group holds distinct row a
        low, high = np.minimum(where[self.k_idx], where[self.l_idx]), np.maximum(where[self.k_idx], where[self.l_idx])
        weight_of_d_pair = self.entries[_pair_index(low, high, self.G)]
        weight = np.bincount(self.value_of_pair, weights=weight_of_d_pair, minlength=len(self.values))
        value_rank = np.cumsum(weight) - weight + (weight + 1) / 2
        d_pair_rank = value_rank[self.value_of_pair]
        return d_pair_rank[_pair_index(np.minimum(reassignment[self.k_idx], reassignment[self.l_idx]),
                                       np.maximum(reassignment[self.k_idx], reassignment[self.l_idx]), self.G)]  # fmt: skip


def _pair_index(low: np.ndarray, high: np.ndarray, G: int) -> np.ndarray:
    """Position of group pair (low <= high) in `np.triu_indices(G)` order."""
    return low * G - low * (low - 1) // 2 + (high - low)


def _symmetric(pair_values: np.ndarray, k_idx: np.ndarray, l_idx: np.ndarray, G: int) -> np.ndarray:
    """The G x G symmetric matrix holding a value per group pair (k <= l)."""
    full = np.zeros((G, G))
    full[k_idx, l_idx] = pair_values
    full[l_idx, k_idx] = pair_values
    return full
