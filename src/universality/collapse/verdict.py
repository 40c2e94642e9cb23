"""Which of the five explanations the numbers support, per metric, over a comparison's layer pairs.

The *trend* of a variant (raw, matched, deduplicated, one stratum of r) is its score on the
most one-to-one bucket (the first of `subsets.ranges`) minus its score on the least one-to-one
bucket it scores: positive where similarity rises as pairs become one-to-one. A matched trend
is *robust* when the two ends' intervals do not overlap. Deduplication and the strata are
judged by the share of the matched trend they remove, with the matched trend taken at the same
two buckets. Per explanation, over the layer pairs where it can be measured:

1. small-n inflation: the raw trend is not robust at matched n in most layer pairs;
2. duplicated rows: one row per A partner (its best-correlated B row) removes at least half of
   the matched trend, in the median layer pair;
3. weak pairs: median r is lower at the many-to-one end in most layer pairs, and within strata
   of r at least half of the matched trend disappears (median layer pair);
4. feature splitting: most hubs carry the split signature;
5. information collapse: a robust rise at matched n that neither deduplication nor the strata
   halve, in most layer pairs: what the proposal predicts, not a proof of it.
An explanation with no layer pair to measure it on is `untestable`.
"""

from __future__ import annotations

import numpy as np

from universality.collapse.matched import entry_scores

VERDICT_METRICS = ("svcca", "rsa")  # the metrics judged, drawn and tabulated
EXPLANATIONS = ("small_n", "duplication", "weak_pairs", "splitting", "collapse")
HALF = 0.5
TOLERANCE = 1e-9  # differences below this are ties (SVCCA is 1 at both ends whenever n <= d)


def _ends(buckets: list[dict], value) -> tuple[int, int] | None:
    """Indices of the first bucket and of the last one `value` scores; None unless the first and another score."""
    scored = [i for i, bucket in enumerate(buckets) if value(bucket) is not None]
    return (0, scored[-1]) if len(scored) >= 2 and scored[0] == 0 else None


def _trend(buckets: list[dict], value, ends: tuple[int, int] | None = None) -> float | None:
    ends = ends or _ends(buckets, value)
    if ends is None or value(buckets[ends[0]]) is None or value(buckets[ends[1]]) is None:
        return None
    return value(buckets[ends[0]]) - value(buckets[ends[1]])


def _removed(variant: float | None, matched: float | None) -> float | None:
    """Share of the matched trend that a variant removes (1: all of it; negative: it grows)."""
    return None if variant is None or matched is None or abs(matched) < TOLERANCE else 1.0 - variant / matched


def layer_pair_trends(buckets: list[dict], metric: str) -> dict:
    """One layer pair's trends for one metric, and the shares of the matched trend that deduplication and the strata remove."""

    def matched(b):
        return (entry_scores(b["matched"], metric) or {}).get("mean")

    def deduplicated(b):
        return (entry_scores(b["deduplicated_best"], metric) or {}).get("mean")

    out = {"raw": _trend(buckets, lambda b: (b["raw"] or {}).get(metric)), "matched": None, "matched_robust": None,
           "median_r_fall": _trend(buckets, lambda b: b["strength"].get("r", {}).get("median"))}  # fmt: skip
    ends = _ends(buckets, matched)
    if ends:
        first, last = (entry_scores(buckets[i]["matched"], metric) for i in ends)
        out["matched"] = first["mean"] - last["mean"]
        out["matched_robust"] = bool(first["low"] > last["high"] + TOLERANCE or first["high"] < last["low"] - TOLERANCE)
    dedup_ends = _ends(buckets, deduplicated)
    out["deduplicated"] = _trend(buckets, deduplicated)
    out["dedup_removed"] = _removed(out["deduplicated"], _trend(buckets, matched, dedup_ends)) if dedup_ends else None
    removed = []
    for i in range(len(buckets[0]["strata"])):

        def stratum(b, i=i):
            return (entry_scores(b["strata"][i], metric) or {}).get("mean")

        stratum_ends = _ends(buckets, stratum)
        if stratum_ends:
            removed.append(_removed(_trend(buckets, stratum), _trend(buckets, matched, stratum_ends)))
    shares = [share for share in removed if share is not None]
    out["strata_removed"] = float(np.mean(shares)) if shares else None
    return out


def _majority(flags: list[bool]) -> str:
    return "untestable" if not flags else ("supported" if sum(flags) > len(flags) / 2 else "not supported")


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def verdict(trends: list[dict], signatures: list[str]) -> dict:
    """Per explanation: `supported`, `not supported` or `untestable`, with the counts and shares behind it."""
    measured = [t for t in trends if t["raw"] is not None]
    robust = [t["matched_robust"] for t in measured if t["matched_robust"] is not None]
    dedup = [t["dedup_removed"] for t in measured if t["dedup_removed"] is not None]
    strata = [t["strata_removed"] for t in measured if t["strata_removed"] is not None]
    r_falls = [t["median_r_fall"] > 0 for t in measured if t["median_r_fall"] is not None]
    collapse = [bool(t["matched_robust"] and t["matched"] > 0 and (t["dedup_removed"] or 0) < HALF and (t["strata_removed"] or 0) < HALF)
                for t in measured if t["matched_robust"] is not None]  # fmt: skip
    splits = [s == "split" for s in signatures]
    dedup_median, strata_median = _median(dedup), _median(strata)  # None where the list is empty
    return {
        "premise": {"layer_pairs": len(measured), "rising": sum(t["raw"] > 0 for t in measured)},
        "small_n": {"verdict": _majority([not flag for flag in robust]), "tested": len(robust), "robust": sum(robust)},
        "duplication": {
            "verdict": _majority([dedup_median >= HALF] if dedup_median is not None else []),
            "tested": len(dedup),
            "median_removed": dedup_median,
        },
        "weak_pairs": {
            "verdict": _majority(
                [sum(r_falls) > len(r_falls) / 2 and strata_median >= HALF] if r_falls and strata_median is not None else []
            ),
            "tested": len(r_falls),
            "r_falls": sum(r_falls),
            "strata_tested": len(strata),
            "median_removed": strata_median,
        },
        "splitting": {
            "verdict": _majority([sum(splits) > len(splits) / 2] if splits else []),
            "hubs": len(splits),
            "split": sum(splits),
            "catch_all": sum(s == "catch-all" for s in signatures),
        },
        "collapse": {"verdict": _majority(collapse), "tested": len(collapse), "consistent": sum(collapse)},
    }
