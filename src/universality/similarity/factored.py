"""Six metrics of (D[pi][group], Y) for batches of reassignments pi, from d x d products: no n x n matrix.

Every null draw is a reassignment: the G distinct A rows D are laid out over the B groups,
X = D[pi][group], against a fixed Y. A row shuffle is the case of n one-row groups (X scored
against Y[p] equals X[argsort(p)] scored against Y). With s the group sizes, Y_c the
column-centred Y and Yn the rows of Y scaled to unit norm, pi enters only through

- cross = X^T Y_c = D[pi]^T S         (S: group sums of Y_c; d_A x d_B)
- gram  = X^T X  = D[pi]^T diag(s) D[pi]   (fixed when all groups have one size)
- total = X^T 1  = D[pi]^T s
- the same three for the normalised rows (RSA's cosines), and O(G) sums of row norms.

From them: SVCCA and pc1_corr (whitening by the eigenvectors of the centred gram), linear CKA,
Procrustes (nuclear norm of cross), debiased CKA (the unbiased HSIC in feature space) and RSA
(Pearson r over the upper triangle from ||Xn^T Yn||_F^2 and the triangle's sums). docs/method.md
derives each one; `tests/test_engine.py` checks them against `metrics.py` on explicit rows.
One reassignment costs O(G d_A d_B), plus O(G d_A^2 + d_A^3) when group sizes differ.
"""

from __future__ import annotations

import numpy as np
import torch

from universality.similarity.metrics import kept_dimensions

FACTORED = ("svcca", "pc1_corr", "rsa", "cka", "cka_debiased", "procrustes")
GATHER_BYTES = 2**28  # rows gathered per batch of reassignments (both sides of RSA included)
# eigenvalues of a Gram matrix below this share of the largest are its rounding noise (about d eps), so count as zero
_RANK_TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}
_VANISHING_HSIC = 1e-10  # self-HSIC below this share of max |x|^4 is rounding noise: debiased CKA undefined


def unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-300)


def _unit(rows: torch.Tensor) -> torch.Tensor:
    return rows / torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp(min=torch.finfo(rows.dtype).tiny)


class FactoredScores:
    """Scores of D[pi][group] against Y for the metrics in FACTORED (see the module docstring)."""

    def __init__(self, distinct_a, group, Y, variance: float, dtype: torch.dtype = torch.float64, device: str = "cpu"):
        D, Y, group = np.asarray(distinct_a, dtype=np.float64), np.asarray(Y, dtype=np.float64), np.asarray(group)
        if len(group) != len(Y):
            raise ValueError(f"similarity needs paired rows: {len(group)} A rows, {len(Y)} B rows")
        self.G, self.n, self.variance, self.dtype, self.device = len(D), len(Y), variance, dtype, device
        self.group = group
        self.sizes = np.bincount(group, minlength=self.G).astype(np.float64)
        self.uniform = bool(np.all(self.sizes == self.sizes[0]))
        self.group_t = torch.as_tensor(group, device=device)
        self.sizes_t = self._tensor(self.sizes)
        self.tensors = {"raw": self._tensor(D), "unit": self._tensor(unit_rows(D))}
        self.norms2 = {side: (rows**2).sum(dim=1) for side, rows in self.tensors.items()}
        self._prepare_y(self._tensor(Y))
        self.fixed_gram = {side: self._gram_of(np.arange(self.G)[None], side) for side in self.tensors} if self.uniform else None
        per_reassignment = self.G * (D.shape[1] * 2 + 2) * torch.finfo(dtype).bits // 8
        self.batch = max(1, GATHER_BYTES // per_reassignment)

    def _tensor(self, values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(values), dtype=self.dtype, device=self.device)

    def _group_sums(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.zeros((self.G, *rows.shape[1:]), dtype=self.dtype, device=self.device).index_add_(0, self.group_t, rows)

    def _prepare_y(self, Y: torch.Tensor) -> None:
        """Everything of Y that no reassignment changes."""
        n = self.n
        self.mu_y = Y.mean(dim=0)
        y_c = Y - self.mu_y
        cyy = y_c.T @ y_c
        self.cyy_norm, self.y_trace = torch.linalg.matrix_norm(cyy), torch.trace(cyy)
        eigenvalues, vectors = torch.linalg.eigh(cyy)
        eigenvalues, vectors = eigenvalues.flip(0).clamp(min=0.0), vectors.flip(1)
        self.y_flat = bool(torch.trace(cyy) <= _RANK_TOLERANCE[self.dtype] * (Y**2).sum())  # Y is one row repeated
        rank = max(1, int((eigenvalues > eigenvalues[0] * _RANK_TOLERANCE[self.dtype]).sum()))
        self.k_y = kept_dimensions(np.sqrt(_numpy(eigenvalues[:rank])), self.variance)
        self.w_y = vectors[:, : self.k_y] / torch.sqrt(eigenvalues[: self.k_y])
        self.pc1_y = vectors[:, 0] / torch.sqrt(eigenvalues[0])
        self.basis_y = vectors[:, :rank]
        self.sums_y = {"raw": self._group_sums(y_c), "unit": self._group_sums(_unit(Y))}
        # debiased CKA: L = Y Y^T with its diagonal zeroed
        norms2 = (Y**2).sum(dim=1)
        total = Y.sum(dim=0)
        l_rows = Y @ total - norms2  # row sums of L
        self.l_ones = total @ total - norms2.sum()
        self.l_norms2, self.l_rows = self._group_sums(norms2), self._group_sums(l_rows)
        gram_y = cyy + n * torch.outer(self.mu_y, self.mu_y)  # Y^T Y
        self.hsic_yy = _hsic(torch.linalg.matrix_norm(gram_y) ** 2 - (norms2**2).sum(), self.l_ones, self.l_ones, l_rows @ l_rows, n)
        self.yy_vanishes = bool(self.hsic_yy <= _VANISHING_HSIC * norms2.max() ** 2)
        # RSA: the upper triangle of Yn Yn^T
        unit = _unit(Y)
        unit_norms2 = (unit**2).sum(dim=1)
        self.unit_norms2_y = self._group_sums(unit_norms2)
        y_sum = (torch.linalg.vector_norm(unit.sum(dim=0)) ** 2 - unit_norms2.sum()) / 2
        y_squares = (torch.linalg.matrix_norm(unit.T @ unit) ** 2 - (unit_norms2**2).sum()) / 2
        self.triangle_y = (y_sum, y_squares - y_sum**2 / _entries(n), y_squares)

    def _gather(self, reassignments: np.ndarray, side: str) -> torch.Tensor:
        """D[pi] for a batch: G x B x d."""
        return self.tensors[side][torch.as_tensor(reassignments.T.copy(), device=self.device)]

    def _gram_of(self, reassignments: np.ndarray, side: str) -> torch.Tensor:
        """X^T X per reassignment: B x d x d."""
        weighted = self._gather(reassignments, side) * torch.sqrt(self.sizes_t)[:, None, None]
        return torch.einsum("gbi,gbj->bij", weighted, weighted)

    def _products(self, reassignments: np.ndarray, side: str) -> tuple[torch.Tensor, ...]:
        """(rows, cross, gram, total) of one side for a batch: D[pi], D[pi]^T S, D[pi]^T diag(s) D[pi], D[pi]^T s."""
        rows = self._gather(reassignments, side)
        G, B, d = rows.shape
        cross = (rows.reshape(G, B * d).T @ self.sums_y[side]).reshape(B, d, -1)
        total = torch.einsum("g,gbd->bd", self.sizes_t, rows)
        # fixed_gram is set iff the groups are of uniform size
        gram = self.fixed_gram[side].expand(B, d, d) if self.fixed_gram is not None else self._gram_of(reassignments, side)
        return rows, cross, gram, total

    def scores(self, reassignments: np.ndarray) -> dict[str, np.ndarray]:
        """Scores for reassignments (B x G: group k gets distinct A row pi[k]), in batches that bound memory."""
        reassignments = np.atleast_2d(reassignments)
        batches = [self._batch_scores(reassignments[i : i + self.batch]) for i in range(0, len(reassignments), self.batch)]
        return {metric: np.concatenate([b[metric] for b in batches]) for metric in FACTORED}

    def _batch_scores(self, reassignments: np.ndarray) -> dict[str, np.ndarray]:
        rows, cross, gram, total = self._products(reassignments, "raw")
        mu_x = total / self.n
        cxx = gram - self.n * mu_x[:, :, None] * mu_x[:, None, :]
        out = self._linear(cross, cxx)
        # X one row repeated (or Y): its centred spread is rounding noise of its raw one, and every linear metric is undefined
        spread, raw = (torch.diagonal(m, dim1=1, dim2=2).sum(dim=1) for m in (cxx, gram))
        flat = (spread <= _RANK_TOLERANCE[self.dtype] * raw).cpu().numpy()
        for metric in out:
            out[metric] = np.where(flat | self.y_flat, np.nan, out[metric])
        out["cka_debiased"] = self._debiased_cka(reassignments, rows, cross, gram, total)
        out["rsa"] = self._rsa(reassignments)
        return out

    def _linear(self, cross: torch.Tensor, cxx: torch.Tensor) -> dict[str, np.ndarray]:
        """SVCCA, pc1_corr, CKA and Procrustes from the centred cross and gram matrices.

        Procrustes takes the singular values of cross within both row spaces (the eigenvectors of
        nonzero eigenvalues), so a rank-deficient side adds no rounding noise; SVCCA those of
        cross whitened on the kept directions.
        """
        eigenvalues, vectors = torch.linalg.eigh(cxx if not self.uniform else cxx[:1])
        eigenvalues, vectors = eigenvalues.flip(-1).clamp(min=0.0), vectors.flip(-1)
        pc1_x = vectors[:, :, 0] / torch.sqrt(eigenvalues[:, :1])
        out = {
            "cka": _numpy((cross**2).sum(dim=(1, 2)) / (torch.linalg.matrix_norm(cxx) * self.cyy_norm)),
            "pc1_corr": _numpy(torch.einsum("bi,bij,j->b", pc1_x.expand(len(cross), -1), cross, self.pc1_y).abs()),
        }
        bases = []
        for value, vector in zip(eigenvalues, vectors, strict=True):
            rank = max(1, int((value > value[0] * _RANK_TOLERANCE[self.dtype]).sum()))
            k_x = kept_dimensions(np.sqrt(_numpy(value[:rank])), self.variance)
            bases.append((vector[:, :rank], vector[:, :k_x] / torch.sqrt(value[:k_x])))
        if self.uniform:
            ((basis, whitening),) = bases
            nuclear = _nuclear_norms(basis.T @ cross @ self.basis_y)
            canonical = whitening.T @ cross @ self.w_y
            svcca = _nuclear_norms(canonical, clip=True) / min(canonical.shape[1:])
        else:
            nuclear = torch.cat([_nuclear_norms((basis.T @ c @ self.basis_y)[None]) for (basis, _), c in zip(bases, cross, strict=True)])
            svcca = torch.cat(
                [
                    _nuclear_norms((w.T @ c @ self.w_y)[None], clip=True) / min(w.shape[1], self.k_y)
                    for (_, w), c in zip(bases, cross, strict=True)
                ]
            )
        out["procrustes"] = _numpy(nuclear / torch.sqrt(torch.diagonal(cxx, dim1=1, dim2=2).sum(dim=1) * self.y_trace))
        out["svcca"] = _numpy(svcca)
        return out

    def _debiased_cka(self, reassignments: np.ndarray, rows, cross, gram, total) -> np.ndarray:
        """Unbiased HSIC (Song et al., 2012) with K = X X^T, L = Y Y^T (diagonals zeroed), in d x d terms."""
        n, sizes = self.n, self.sizes_t
        norms2 = self.norms2["raw"][torch.as_tensor(reassignments, device=self.device)]  # |x|^2 per group, B x G
        raw_cross = cross + total[:, :, None] * self.mu_y[None, None, :]  # X^T Y
        k_rows = torch.einsum("gbd,bd->bg", rows, total) - norms2  # row sums of K for a row of each group
        k_ones = (total**2).sum(dim=1) - norms2 @ sizes
        trace_kl = (raw_cross**2).sum(dim=(1, 2)) - norms2 @ self.l_norms2
        hsic_xy = _hsic(trace_kl, k_ones, self.l_ones, k_rows @ self.l_rows, n)
        trace_kk = (gram**2).sum(dim=(1, 2)) - norms2**2 @ sizes
        hsic_xx = _hsic(trace_kk, k_ones, k_ones, (k_rows**2) @ sizes, n)
        vanishes = (hsic_xx <= _VANISHING_HSIC * norms2.max(dim=1).values ** 2) | self.yy_vanishes
        value = hsic_xy / torch.sqrt(hsic_xx.clamp(min=0.0) * self.hsic_yy)
        return np.where(_numpy(vanishes), np.nan, _numpy(value))

    def _rsa(self, reassignments: np.ndarray) -> np.ndarray:
        """Pearson r of the cosine triangles: sum_{i<j} Kx Ky = (||Xn^T Yn||^2 - sum_i |xn_i|^2 |yn_i|^2) / 2."""
        _, cross, gram, total = self._products(reassignments, "unit")
        norms2 = self.norms2["unit"][torch.as_tensor(reassignments, device=self.device)]
        sizes, entries = self.sizes_t, _entries(self.n)
        products = (cross**2).sum(dim=(1, 2)) - norms2 @ self.unit_norms2_y
        x_sum = ((total**2).sum(dim=1) - norms2 @ sizes) / 2
        x_squares = ((gram**2).sum(dim=(1, 2)) - norms2**2 @ sizes) / 2
        y_sum, y_spread, y_squares = self.triangle_y
        covariance = products / 2 - x_sum * y_sum / entries
        x_spread = x_squares - x_sum**2 / entries
        # a side whose cosines are constant (e.g. one repeated row) leaves r undefined, as in metrics.pearson
        flat = (x_spread <= _RANK_TOLERANCE[self.dtype] * x_squares) | bool(y_spread <= _RANK_TOLERANCE[self.dtype] * y_squares)
        return np.where(flat.cpu().numpy(), np.nan, _numpy(covariance / torch.sqrt(x_spread.clamp(min=0.0) * y_spread.clamp(min=0.0))))


def _entries(n: int) -> float:
    return n * (n - 1) / 2


def _hsic(trace, ones_k, ones_l, row_products, n: int):
    """Unbiased HSIC from tr(K L), 1^T K 1, 1^T L 1 and 1^T K L 1 (diagonals zeroed)."""
    return (trace + ones_k * ones_l / ((n - 1) * (n - 2)) - 2.0 * row_products / (n - 2)) / (n * (n - 3))


def _nuclear_norms(matrices: torch.Tensor, clip: bool = False) -> torch.Tensor:
    """Sum of the singular values of each matrix in a batch, from the smaller Gram matrix's eigenvalues
    (each clipped to 1 when `clip`: canonical correlations)."""
    wide = matrices.shape[1] <= matrices.shape[2]
    gram = matrices @ matrices.transpose(1, 2) if wide else matrices.transpose(1, 2) @ matrices
    singular = torch.linalg.eigvalsh(gram).clamp(min=0.0).sqrt()
    return (singular.clamp(max=1.0) if clip else singular).sum(dim=1)


def _numpy(values: torch.Tensor) -> np.ndarray:
    return values.detach().to("cpu", torch.float64).numpy()
