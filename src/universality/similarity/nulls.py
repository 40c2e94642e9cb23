"""Nulls and the statistics reported beside every score.

For paired decoder rows X (n x d_A) and Y (n x d_B), every metric of `permutations.METRICS`
gets three nulls with the same n, filters and k rule:

- `row_shuffle`: Y's rows permuted against X's (the paper's null);
- `group`: the B rows that share an A partner move together, onto another group of the same
  size, so duplicated X rows cannot fake similarity (for a 1-1 set it is the row shuffle);
- `size_matched`: random live A decoder rows, one per group and repeated like X's, against n
  random live B decoder rows: what this n, this duplication and these d give by chance.

Per null: mean, sd, z, p = (b + 1) / (m + 1) with b null scores >= observed (never 0), and the
chance-corrected effect (observed - null mean) / (1 - null mean), undefined (None) when the
null mean is 1 to within 1e-6. A subsampling confidence
interval resamples whole groups (A partners) without replacement. Benjamini-Hochberg
q-values across the reported grid are added by `add_q_values`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import false_discovery_control

from universality.similarity.permutations import METRICS, PermutedScores
from universality.similarity.metrics import svcca

MIN_PAIRS = 4  # debiased CKA needs four rows
NULLS = ("row_shuffle", "group", "size_matched")
PERMUTATION_BATCH = 16
_SATURATED = 1e-6  # a null mean this close to 1 leaves no room for an effect (e.g. SVCCA with n <= d)


@dataclass(frozen=True)
class NullSettings:
    permutations: int
    size_matched_draws: int
    ci_draws: int
    ci_fraction: float
    ci_level: float
    device: str = "cpu"


def p_value(observed: float, null: np.ndarray) -> float:
    return float((np.count_nonzero(null >= observed) + 1) / (len(null) + 1))


def summarize(observed: float, null: np.ndarray) -> dict[str, float]:
    sd = float(null.std(ddof=1)) if len(null) > 1 else 0.0
    mean = float(null.mean())
    return {
        "null_mean": mean,
        "null_sd": sd,
        "z": (observed - mean) / sd if sd > 0 else 0.0,
        "p": p_value(observed, null),
        "effect": (observed - mean) / (1.0 - mean) if mean < 1.0 - _SATURATED else None,
    }


def group_permutation(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A row permutation moving whole groups onto groups of the same size (rows keep their order within a group)."""
    labels, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(labels))]
    target = np.empty(len(labels), dtype=np.int64)
    for size in np.unique(sizes):
        same = np.flatnonzero(sizes == size)
        target[same] = same[rng.permutation(len(same))]
    permutation = np.empty(len(groups), dtype=np.int64)
    for g, rows in enumerate(members):
        permutation[rows] = members[target[g]]
    return permutation


def _distinct_rows_on_both_sides(X: np.ndarray, Y: np.ndarray) -> bool:
    return min(len(np.unique(X, axis=0)), len(np.unique(Y, axis=0))) >= 2


def _scores(scorer: PermutedScores, permutations: list[np.ndarray]) -> dict[str, np.ndarray]:
    batches = [scorer.scores(np.stack(permutations[i : i + PERMUTATION_BATCH])) for i in range(0, len(permutations), PERMUTATION_BATCH)]
    return {metric: np.concatenate([b[metric] for b in batches]) for metric in METRICS}


def _fresh_scores(X: np.ndarray, Y: np.ndarray, variance: float, device: str) -> dict[str, float]:
    scores = PermutedScores(X, Y, variance, device=device).scores(np.arange(len(X))[None])
    return {metric: float(values[0]) for metric, values in scores.items()}


def _subsampling_interval(observed: dict, draws: list[dict], n_full: int, n_sub: int, level: float) -> dict[str, list[float]]:
    """Subsampling interval per metric: observed - quantiles of (subsample - observed), rescaled by sqrt(b / n)."""
    scale = np.sqrt(n_sub / n_full)
    tail = (1 - level) / 2
    intervals = {}
    for metric in METRICS:
        deviations = (np.array([d[metric] for d in draws]) - observed[metric]) * scale
        high, low = np.quantile(deviations, [1 - tail, tail])
        intervals[metric] = [float(observed[metric] - high), float(observed[metric] - low)]
    return intervals


def compare(
    X: np.ndarray, Y: np.ndarray, groups: np.ndarray, pool_a: np.ndarray, pool_b: np.ndarray,
    variance: float, settings: NullSettings, seed: int | list[int],
) -> dict[str, Any]:  # fmt: skip
    """Every metric of paired rows with its three nulls, effects and a subsampling interval.

    Subsets that cannot be scored get a status instead of a score: fewer than MIN_PAIRS pairs,
    or one side whose rows are all the same decoder row (e.g. a bucket holding a single A
    feature and its many partners).
    """
    n = len(X)
    if n < MIN_PAIRS:
        return {"n": n, "status": "too few pairs"}
    if not _distinct_rows_on_both_sides(X, Y):
        return {"n": n, "status": "one distinct row"}
    rng = np.random.default_rng(seed)
    scorer = PermutedScores(X, Y, variance, device=settings.device)
    observed = {metric: float(values[0]) for metric, values in scorer.scores(np.arange(n)[None]).items()}
    null_scores = {
        "row_shuffle": _scores(scorer, [rng.permutation(n) for _ in range(settings.permutations)]),
        "group": _scores(scorer, [group_permutation(groups, rng) for _ in range(settings.permutations)]),
    }
    clusters, group_of_row = np.unique(groups, return_inverse=True)
    size_matched = []
    for _ in range(settings.size_matched_draws):
        rows_a = rng.choice(len(pool_a), len(clusters), replace=False)[group_of_row]  # same duplication pattern as X
        rows_b = rng.choice(len(pool_b), n, replace=False)
        size_matched.append(_fresh_scores(pool_a[rows_a], pool_b[rows_b], variance, settings.device))
    null_scores["size_matched"] = {metric: np.array([d[metric] for d in size_matched]) for metric in METRICS}

    n_sub = max(2, int(round(settings.ci_fraction * len(clusters))))
    draws = []
    for _ in range(settings.ci_draws):
        rows = np.flatnonzero(np.isin(groups, rng.choice(clusters, n_sub, replace=False)))
        if len(rows) >= MIN_PAIRS and _distinct_rows_on_both_sides(X[rows], Y[rows]):
            draws.append(_fresh_scores(X[rows], Y[rows], variance, settings.device))
    intervals = _subsampling_interval(observed, draws, len(clusters), n_sub, settings.ci_level) if draws else {}

    reference = svcca(X, Y, variance)
    result: dict[str, Any] = {"n": n, "status": "ok", "groups": int(len(clusters))}
    for metric in METRICS:
        result[metric] = {"observed": observed[metric], "ci": intervals.get(metric)} | {
            null: summarize(observed[metric], null_scores[null][metric]) for null in NULLS
        }
    result["svcca"] |= {"k_x": reference.k_x, "k_y": reference.k_y, "canonical_correlations": reference.correlations.tolist()}
    result["null_scores"] = null_scores
    return result


def add_q_values(records: list[dict[str, Any]]) -> None:
    """Benjamini-Hochberg q-values per null across every scored record x metric, in place."""
    scored = [r for r in records if r.get("status") == "ok"]
    for null in NULLS:
        cells = [(r, metric) for r in scored for metric in METRICS]
        if not cells:
            continue
        q = false_discovery_control([r[metric][null]["p"] for r, metric in cells])
        for (record, metric), value in zip(cells, q):
            record[metric][null]["q"] = float(value)
