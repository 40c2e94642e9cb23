"""Bucket scores at a common size, so that buckets of different sizes can be compared.

CCA-type scores rise as n falls, so a 1-1 set (small) and a many-to-1 bucket (large) are
compared at one n: the smallest bucket size that reaches `min_n`. Each bucket is subsampled
`draws` times without replacement to that n; each draw is scored as it is and with Y's rows
shuffled, and the shuffled scores give the size-matched chance band. A bucket of exactly the
common size is scored once (every draw would be the whole bucket).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from universality.similarity.engine import Engine
from universality.similarity.metrics import METRICS


def common_size(sizes: list[int], min_n: int) -> int | None:
    """The smallest size that reaches `min_n` (None when none does): the n every bucket is scored at."""
    large_enough = [size for size in sizes if size >= min_n]
    return min(large_enough) if large_enough else None


def one_row_per_partner(pairs: pd.DataFrame, W_dec_b: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated pairs: each A partner once, against the mean of its B rows ("mean") or its best-correlated B row ("best")."""
    groups = pairs.groupby("a_partner", sort=True)
    partners = np.array(list(groups.groups), dtype=np.int64)
    if how == "mean":
        rows = np.stack([W_dec_b[group["b_feature"].to_numpy()].mean(axis=0) for _, group in groups]) if len(partners) else W_dec_b[:0]
    elif how == "best":
        rows = W_dec_b[pairs.loc[groups["r"].idxmax(), "b_feature"].to_numpy()] if len(partners) else W_dec_b[:0]
    else:
        raise ValueError(f"unknown deduplication {how!r}; use 'mean' or 'best'")
    return partners, rows


def entry_scores(entry: dict | None, metric: str) -> dict | None:
    """One metric's scores in a `matched_scores` result; None where it has a status or the metric was not computed."""
    return entry["scores"][metric] if entry and entry["status"] == "ok" else None


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def matched_scores(engine: Engine, X: np.ndarray, Y: np.ndarray, partners: np.ndarray, n: int | None, draws: int,
                   rng: np.random.Generator, level: float) -> dict:  # fmt: skip
    """Every metric of `draws` subsamples of n paired rows (X[i], Y[i]): mean and interval, and the row-shuffled chance band.

    `partners` (the A feature of each row) counts the distinct A rows a draw holds on average.
    """
    total = len(X)
    if n is None or total < n:
        return {"status": "too few pairs", "pairs": total, "n": n}
    draws_scored = 1 if total == n else draws
    observed = {metric: np.empty(draws_scored) for metric in METRICS}
    chance = {metric: np.empty(draws) for metric in METRICS}
    distinct = np.empty(draws_scored)
    for draw in range(draws):
        rows = rng.choice(total, n, replace=False) if draws_scored > 1 else np.arange(total)
        if draw < draws_scored:
            distinct[draw] = len(np.unique(partners[rows]))
            for metric, value in engine.observed(X[rows], Y[rows]).items():
                observed[metric][draw] = value
        for metric, value in engine.observed(X[rows], Y[rows][rng.permutation(n)]).items():
            chance[metric][draw] = value
    scores: dict[str, dict[str, float] | None] = {}
    for metric in METRICS:
        if np.isnan(observed[metric]).any() or np.isnan(chance[metric]).any():
            scores[metric] = None  # a metric not computed at this size (rsa_paper above its limit)
            continue
        low, high = _interval(observed[metric], level)
        chance_low, chance_high = _interval(chance[metric], level)
        scores[metric] = {"mean": float(observed[metric].mean()), "low": low, "high": high,
                          "chance_mean": float(chance[metric].mean()), "chance_low": chance_low, "chance_high": chance_high}  # fmt: skip
    return {"status": "ok", "pairs": total, "n": n, "draws": draws_scored, "distinct_a_mean": float(distinct.mean()), "scores": scores}


def strength(pairs: pd.DataFrame) -> dict:
    """The distribution of pair correlation r (and held-out r where the pairing measured it) in a set of pairs."""
    out = {}
    for column in ("r", "r_held_out"):
        if column in pairs and len(pairs) and pairs[column].notna().any():
            values = pairs[column].dropna().to_numpy()
            q10, q25, q50, q75, q90 = np.percentile(values, [10, 25, 50, 75, 90])
            out[column] = {
                "mean": float(values.mean()),
                "q10": float(q10),
                "q25": float(q25),
                "median": float(q50),
                "q75": float(q75),
                "q90": float(q90),
            }
    return out
