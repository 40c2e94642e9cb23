"""One scorer for every draw of every null: observed scores, row shuffles, group reassignments, random subsets.

A draw is a reassignment of distinct A rows over B groups (`factored.py`, `ranked.py`); a row
shuffle is the reassignment of n one-row groups, and an observed score is the identity. The
paper's Spearman RSA is exact up to `max_rank_pairs` pairs; a larger subset gets no rsa_paper
score (a status in the results, "--" in the tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from universality.devices import resolve_device
from universality.params.schema import Params
from universality.similarity.factored import FactoredScores
from universality.similarity.metrics import METRICS, rsa_paper
from universality.similarity.ranked import RankedScores

PRECISIONS = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class Engine:
    """How draws are scored: the SVCCA variance rule, the precision of the products, where, and rsa_paper's size limit."""

    variance: float
    precision: str = "float64"
    device: str = "cpu"
    max_rank_pairs: int = 1000

    def reassignments(self, distinct_a: np.ndarray, group: np.ndarray, Y: np.ndarray) -> Reassigned:
        return Reassigned(distinct_a, group, Y, self)

    def row_shuffles(self, X: np.ndarray, Y: np.ndarray) -> RowShuffled:
        return RowShuffled(X, Y, self)

    def observed(self, X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
        """Every metric of the paired rows (rsa_paper: from its definition, nan above the size limit)."""
        scores = FactoredScores(X, np.arange(len(X)), Y, self.variance, PRECISIONS[self.precision], self.device).scores(
            np.arange(len(X))[None]
        )
        scores["rsa_paper"] = [rsa_paper(X, Y) if len(X) <= self.max_rank_pairs else np.nan]
        return {metric: float(scores[metric][0]) for metric in METRICS}


def engine_for(params: Params) -> Engine:
    """The engine `params` configure (similarity.svcca_variance and nulls.precision, device, rsa_paper_max_n)."""
    n = params.nulls
    return Engine(params.similarity.svcca_variance, n.precision, resolve_device(n.device, "nulls.device"), n.rsa_paper_max_n)


class Reassigned:
    """Every metric of D[pi][group] against Y for batches of reassignments pi (B x G)."""

    def __init__(self, distinct_a: np.ndarray, group: np.ndarray, Y: np.ndarray, engine: Engine):
        self.factored = FactoredScores(distinct_a, group, Y, engine.variance, PRECISIONS[engine.precision], engine.device)
        self.ranked = RankedScores(distinct_a, group, Y) if len(Y) <= engine.max_rank_pairs else None

    def scores(self, reassignments: np.ndarray) -> dict[str, np.ndarray]:
        reassignments = np.atleast_2d(reassignments)
        out = self.factored.scores(reassignments)
        out["rsa_paper"] = self.ranked.scores(reassignments) if self.ranked else np.full(len(reassignments), np.nan)
        return {metric: out[metric] for metric in METRICS}


class RowShuffled:
    """Every metric of X against Y[p] for batches of row permutations p (B x n): X[argsort p] against Y."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, engine: Engine):
        if len(X) != len(Y):
            raise ValueError(f"similarity needs paired rows: X has {len(X)}, Y has {len(Y)}")
        self.reassigned = Reassigned(X, np.arange(len(X)), Y, engine)

    def scores(self, permutations: np.ndarray) -> dict[str, np.ndarray]:
        return self.reassigned.scores(np.argsort(np.atleast_2d(permutations), axis=1))
