"""Which pairs are compared: the 1-1 sets, multiplicity buckets, hubs and collapse statistics.

A pair's multiplicity m is the number of pairable B features whose partner is the same A
feature, counted over the whole pairing (before any filter), so a filter never makes a
many-to-1 pair look one-to-one. Subsets are built from the pairs that passed the filters.

1-1 rules (`subsets.one_to_one` picks the main body's):
- `unique_partner`: pairs whose A partner has m = 1;
- `mutual_nn`: pairs that are each other's nearest neighbour in both directions;
- `assignment`: the 1-1 matching of largest total r over every pair that passes the filters
  (the pairing's edges: all pairs with r above the correlation threshold), exact, by
  `scipy.sparse.csgraph.min_weight_full_bipartite_matching` on the sparse edge graph with a
  zero-weight "unmatched" option for every feature;
- `paper_first_occurrence`: the paper's own rule, the first B feature (lowest index) per A
  partner; labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

ONE_TO_ONE_RULES = {
    "unique_partner": "1-1 (unique partner)",
    "mutual_nn": "1-1 (mutual nearest neighbours)",
    "assignment": "1-1 (optimal assignment)",
    "paper_first_occurrence": "1-1 (paper's rule: first B per A)",
}


@dataclass(frozen=True)
class Subset:
    name: str  # machine key, e.g. "cum_le_10"
    label: str  # for tables, e.g. "$m \le 10$"
    kind: str  # "one_to_one", "cumulative" or "range"
    pairs: pd.DataFrame  # columns b_feature, a_partner, r (and more)


def one_to_one(kept: pd.DataFrame, rule: str, edges: pd.DataFrame | None = None) -> Subset:
    """The 1-1 pairs under `rule` (see the module docstring); `assignment` needs the kept edges (a, b, r)."""
    if rule == "unique_partner":
        pairs = kept[kept["multiplicity"] == 1]
    elif rule == "mutual_nn":
        pairs = kept[kept["mutual"]]
    elif rule == "assignment":
        if edges is None:
            raise ValueError("the assignment rule needs the edges of the pairing stage")
        pairs = optimal_assignment(edges)
    elif rule == "paper_first_occurrence":
        pairs = kept.sort_values("b_feature").drop_duplicates("a_partner", keep="first")
    else:
        raise ValueError(f"unknown 1-1 rule {rule!r}; choose one of {sorted(ONE_TO_ONE_RULES)}")
    return Subset(f"one_to_one_{rule}", ONE_TO_ONE_RULES[rule], "one_to_one", pairs.reset_index(drop=True))


_UNMATCHED_COST = 2.0  # cost of leaving a feature unmatched; an edge costs this minus r (> 0 for r <= 1)


def optimal_assignment(edges: pd.DataFrame) -> pd.DataFrame:
    """The 1-1 matching of largest total r over the edges (columns a, b, r), exactly.

    Every feature may stay unmatched: the graph gets a stand-in B' for every B feature and A'
    for every A feature, with edges A-A', B'-B and, for each edge (a, b), B'_b-A'_a. A full
    matching of A + B' to B + A' then picks a matching of the real graph and pairs every
    feature it leaves out with its own stand-in, so the cheapest full matching is the
    heaviest real matching.
    """
    edges = edges[edges["r"].to_numpy() > 0]
    if edges.empty:
        return pd.DataFrame({"b_feature": np.array([], dtype=np.int64), "a_partner": np.array([], dtype=np.int64), "r": []})
    a_ids, a = np.unique(edges["a"].to_numpy(), return_inverse=True)
    b_ids, b = np.unique(edges["b"].to_numpy(), return_inverse=True)
    n_a, n_b, r = len(a_ids), len(b_ids), edges["r"].to_numpy()
    rows = np.concatenate([a, np.arange(n_a), n_a + np.arange(n_b), n_a + b])  # A, then B'
    cols = np.concatenate([b, n_b + np.arange(n_a), np.arange(n_b), n_b + a])  # B, then A'
    cost = np.concatenate([_UNMATCHED_COST - r, np.full(n_a + n_b + len(r), _UNMATCHED_COST)])
    matched_rows, matched_cols = min_weight_full_bipartite_matching(sp.csr_matrix((cost, (rows, cols)), shape=(n_a + n_b,) * 2))
    real = (matched_rows < n_a) & (matched_cols < n_b)
    chosen_a, chosen_b = matched_rows[real], matched_cols[real]
    keys, order = a * n_b + b, np.argsort(a * n_b + b)
    edge = order[np.searchsorted(keys[order], chosen_a * n_b + chosen_b)]
    table = pd.DataFrame({"b_feature": b_ids[chosen_b], "a_partner": a_ids[chosen_a], "r": r[edge]})
    return table.sort_values("b_feature").reset_index(drop=True)


def cumulative_buckets(pairs: pd.DataFrame, caps: list[int]) -> list[Subset]:
    """Pairs with m <= cap for each cap, then all pairs."""
    buckets = [Subset(f"cum_le_{cap}", f"$m \\le {cap}$", "cumulative", pairs[pairs["multiplicity"] <= cap]) for cap in caps]
    return [*buckets, Subset("cum_all", "all", "cumulative", pairs)]


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


def collapse_stats(pairs: pd.DataFrame, pairable_a: int, pairable_b: int) -> dict:
    """Information collapse of a set of pairs.

    coverage_b: share of pairable B features in the set; coverage_a: share of pairable A features that
    are a partner in it; distinct_partner_ratio: distinct A partners / pairs (1 for a 1-1 set);
    effective_partners: exp of the entropy of the partner distribution (= pairs for a 1-1 set).
    """
    n = len(pairs)
    counts = pairs["a_partner"].value_counts().to_numpy()
    p = counts / max(n, 1)
    return {
        "coverage_b": n / pairable_b,
        "coverage_a": len(counts) / pairable_a,
        "distinct_partner_ratio": len(counts) / n if n else 0.0,
        "effective_partners": float(np.exp(-(p * np.log(p)).sum())) if n else 0.0,
    }


def hubs(pairs: pd.DataFrame, count: int) -> pd.DataFrame:
    """The `count` most-mapped A features (a_feature, multiplicity, mean r of their B features), ties to the lower index."""
    grouped = pairs.groupby("a_partner").agg(multiplicity=("b_feature", "size"), mean_r=("r", "mean")).reset_index()
    grouped = grouped.rename(columns={"a_partner": "a_feature"}).sort_values(["multiplicity", "a_feature"], ascending=[False, True])
    return grouped.head(count).reset_index(drop=True)
