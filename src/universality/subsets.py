"""Which pairs are compared: the correlation filter, the 1-1 set and multiplicity buckets.

A pair's multiplicity m is the number of live B features whose partner is the same A
feature, counted over the whole pairing (before any filter), so a filter never makes a
many-to-1 pair look one-to-one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Subset:
    name: str  # machine key, e.g. "cum_le_10"
    label: str  # for tables, e.g. "$m \le 10$"
    kind: str  # "one_to_one", "cumulative" or "range"
    pairs: pd.DataFrame


def correlation_filter(pairs: pd.DataFrame, min_correlation: float) -> tuple[pd.DataFrame, int]:
    """Keep pairs with r > min_correlation; also return how many were removed."""
    kept = pairs[pairs["r"] > min_correlation]
    return kept, len(pairs) - len(kept)


def one_to_one(pairs: pd.DataFrame) -> Subset:
    """Pairs whose A partner is the partner of no other B feature (unique partner, m = 1)."""
    return Subset("one_to_one", "1-1 (unique partner)", "one_to_one", pairs[pairs["multiplicity"] == 1])


def cumulative_buckets(pairs: pd.DataFrame, caps: list[int]) -> list[Subset]:
    """Pairs with m <= cap for each cap, then all pairs."""
    buckets = [Subset(f"cum_le_{cap}", f"$m \\le {cap}$", "cumulative", pairs[pairs["multiplicity"] <= cap]) for cap in caps]
    return buckets + [Subset("cum_all", "all", "cumulative", pairs)]


def range_buckets(pairs: pd.DataFrame, ranges: list[tuple[int, int | None]]) -> list[Subset]:
    """Pairs with lo <= m <= hi for each range (hi None: no upper bound)."""
    buckets = []
    for lo, hi in ranges:
        m = pairs["multiplicity"]
        if hi is None:
            buckets.append(Subset(f"range_{lo}_up", f"$m \\ge {lo}$", "range", pairs[m >= lo]))
        elif lo == hi:
            buckets.append(Subset(f"range_{lo}", f"$m = {lo}$", "range", pairs[m == lo]))
        else:
            buckets.append(Subset(f"range_{lo}_{hi}", f"${lo} \\le m \\le {hi}$", "range", pairs[(m >= lo) & (m <= hi)]))
    return buckets
