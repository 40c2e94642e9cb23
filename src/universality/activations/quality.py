"""Reconstruction quality of an SAE over a stream of activations: FVU, L0, dead fraction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class QualityAccumulator:
    """Running sums for the fraction of variance unexplained, L0 and dead fraction."""

    squared_error: float = 0.0
    sum_x: np.ndarray | None = None
    sum_squared_x: float = 0.0
    n_tokens: int = 0
    nnz: int = 0
    fired: np.ndarray | None = None

    def add(self, x: torch.Tensor, reconstruction: torch.Tensor, codes: torch.Tensor) -> None:
        x64 = x.double()
        self.squared_error += float(((reconstruction.double() - x64) ** 2).sum())
        column_sum = x64.sum(dim=0).cpu().numpy()
        self.sum_x = column_sum if self.sum_x is None else self.sum_x + column_sum
        self.sum_squared_x += float((x64**2).sum())
        self.n_tokens += x.shape[0]
        active = codes != 0
        self.nnz += int(active.sum())
        fired = active.any(dim=0).cpu().numpy()
        self.fired = fired if self.fired is None else self.fired | fired

    def merge(self, other: QualityAccumulator) -> None:
        self.squared_error += other.squared_error
        self.sum_x = other.sum_x if self.sum_x is None else self.sum_x + other.sum_x
        self.sum_squared_x += other.sum_squared_x
        self.n_tokens += other.n_tokens
        self.nnz += other.nnz
        self.fired = other.fired if self.fired is None else self.fired | other.fired

    def metrics(self) -> dict[str, float]:
        assert self.sum_x is not None and self.fired is not None, "no activations added"
        total_variance = self.sum_squared_x - float(self.sum_x @ self.sum_x) / self.n_tokens
        return {
            "fvu": self.squared_error / total_variance,
            "l0": self.nnz / self.n_tokens,
            "dead_fraction": float(1.0 - self.fired.mean()),
        }

    def to_tensors(self, prefix: str) -> dict[str, np.ndarray]:
        assert self.sum_x is not None and self.fired is not None, "no activations added"
        scalars = np.array([self.squared_error, self.sum_squared_x, self.n_tokens, self.nnz], dtype=np.float64)
        return {f"{prefix}.sums": scalars, f"{prefix}.sum_x": self.sum_x, f"{prefix}.fired": self.fired.astype(np.uint8)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], prefix: str) -> QualityAccumulator:
        squared_error, sum_squared_x, n_tokens, nnz = tensors[f"{prefix}.sums"].tolist()
        return cls(
            squared_error, tensors[f"{prefix}.sum_x"], sum_squared_x, int(n_tokens), int(nnz), tensors[f"{prefix}.fired"].astype(bool)
        )
