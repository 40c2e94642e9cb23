"""Cross-model scores read against a skyline, a floor, other seeds and a pairing-level null.

For every layer pair (L_A, L_B) of the main comparison and every metric:

- skyline: the same metric on one side's layer (L_A when the skyline's model is A's, L_B when
  it is B's) against that layer with SAEs of another seed (what one representation scores
  against itself);
- floor: A's layer L_A against layer L_B of B's architecture left untrained;
- gap fraction: (score - floor) / (skyline - floor), None when the gap is not positive or a
  term is missing (then no fraction is meaningful);
- seeds: the score of the main comparison and of each replicate (models and SAEs of other
  seeds, same layer pair), with mean, sample sd, min and max; the replicates' gap fractions
  use the main comparison's skyline and floor;
- shuffled windows: how many pairs pass the filters when B's windows are shuffled, and the
  shuffled 1-1 set's scores.

Only 1-1 records with status `ok` enter; a layer pair missing from a comparison is None.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from universality.similarity.metrics import METRICS

Records = dict[tuple[int, int], dict[str, Any]]


def by_layer_pair(records: list[dict[str, Any]]) -> Records:
    """Scored 1-1 records keyed by (layer_a, layer_b); records without scores are left out."""
    return {(r["layer_a"], r["layer_b"]): r for r in records if r["status"] == "ok"}


def gap_fraction(score: float | None, floor: float | None, skyline: float | None) -> float | None:
    """(score - floor) / (skyline - floor); None without all three or without a positive gap."""
    if score is None or floor is None or skyline is None or not skyline > floor:
        return None
    return (score - floor) / (skyline - floor)


def _observed(record: dict[str, Any] | None, metric: str) -> float | None:
    value = None if record is None else record[metric]["observed"]
    return None if value is None or not math.isfinite(value) else float(value)


def _spread(values: list[float | None]) -> dict[str, float | int | None]:
    finite = [v for v in values if v is not None]
    if not finite:
        return {"runs": 0, "mean": None, "sd": None, "min": None, "max": None}
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return {"runs": len(finite), "mean": float(np.mean(finite)), "sd": sd, "min": min(finite), "max": max(finite)}


def calibrate(main: Records, skyline: Records, floor: Records, replicates: list[Records], skyline_side: str = "a") -> list[dict[str, Any]]:
    """One record per layer pair of `main`: every metric with its skyline, floor, gap fraction and seed spread.

    `skyline_side`: which of main's models the skyline pairs with itself ("a" or "b").
    """
    rows = []
    for (layer_a, layer_b), record in sorted(main.items()):
        layer = layer_a if skyline_side == "a" else layer_b
        sky, low = skyline.get((layer, layer)), floor.get((layer_a, layer_b))
        runs = [record] + [replicate.get((layer_a, layer_b)) for replicate in replicates]
        metrics = {}
        for metric in METRICS:
            top, bottom = _observed(sky, metric), _observed(low, metric)
            scores = [_observed(run, metric) for run in runs]
            fractions = [gap_fraction(score, bottom, top) for score in scores]
            metrics[metric] = {
                "observed": scores[0],
                "skyline": top,
                "floor": bottom,
                "gap_fraction": fractions[0],
                "seeds": _spread(scores),
                "gap_fraction_seeds": _spread(fractions),
            }
        rows.append({
            "layer_a": layer_a,
            "layer_b": layer_b,
            "n": record["n"],
            "n_skyline": None if sky is None else sky["n"],
            "n_floor": None if low is None else low["n"],
            "n_seeds": [None if run is None else run["n"] for run in runs],
            "metrics": metrics,
        })  # fmt: skip
    return rows


def shuffled_null(pair_summary: dict[str, Any], records: Records, rule: str) -> list[dict[str, Any]]:
    """Per layer pair of the shuffled-window comparison: pairs that pass the filters, the 1-1 size, its scores."""
    rows = []
    for summary in pair_summary.values():
        key = (summary["layer_a"], summary["layer_b"])
        record = records.get(key)
        rows.append({
            "layer_a": key[0],
            "layer_b": key[1],
            "pairs": summary["filters"]["pairs"],
            "kept": summary["filters"]["kept"],
            "one_to_one_n": summary["one_to_one"][rule]["n"],
            "tokens_dropped": summary["shuffled_windows"]["tokens_dropped"],
            "scores": {m: _observed(record, m) for m in METRICS} if record else None,
            "p_row_shuffle": {m: record[m]["row_shuffle"]["p"] for m in METRICS} if record else None,
        })  # fmt: skip
    return rows
