"""Which pairs are compared: the 1-1 sets, multiplicity buckets, hubs and collapse statistics.

A pair's multiplicity m is the number of live B features whose partner is the same A
feature, counted over the whole pairing (before any filter), so a filter never makes a
many-to-1 pair look one-to-one. Subsets are built from the pairs that passed the filters.

1-1 rules (`subsets.one_to_one` picks the main body's):
- `unique_partner`: pairs whose A partner has m = 1;
- `mutual_nn`: pairs that are each other's nearest neighbour in both directions;
- `assignment`: the 1-1 matching of largest total r over the candidate pairs (best and
  runner-up partner of every B feature, best partner of every A feature, filtered),
  `scipy.optimize.linear_sum_assignment` per connected component of the candidate graph;
- `paper_first_occurrence`: the paper's own rule, the first B feature (lowest index) per A
  partner; labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components

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


def one_to_one(kept: pd.DataFrame, rule: str, candidates: pd.DataFrame | None = None) -> Subset:
    """The 1-1 pairs under `rule` (see the module docstring); `assignment` needs the kept candidates."""
    if rule == "unique_partner":
        pairs = kept[kept["multiplicity"] == 1]
    elif rule == "mutual_nn":
        pairs = kept[kept["mutual"]]
    elif rule == "assignment":
        if candidates is None:
            raise ValueError("the assignment rule needs the candidate pairs of the pairing stage")
        pairs = optimal_assignment(candidates)
    elif rule == "paper_first_occurrence":
        pairs = kept.sort_values("b_feature").drop_duplicates("a_partner", keep="first")
    else:
        raise ValueError(f"unknown 1-1 rule {rule!r}; choose one of {sorted(ONE_TO_ONE_RULES)}")
    return Subset(f"one_to_one_{rule}", ONE_TO_ONE_RULES[rule], "one_to_one", pairs.reset_index(drop=True))


def optimal_assignment(candidates: pd.DataFrame) -> pd.DataFrame:
    """Max-total-r 1-1 matching over candidate edges (columns a, b, r), one component at a time."""
    a_ids, a_index = np.unique(candidates["a"].to_numpy(), return_inverse=True)
    b_ids, b_index = np.unique(candidates["b"].to_numpy(), return_inverse=True)
    r = candidates["r"].to_numpy()
    n_a = len(a_ids)
    graph = sp.coo_matrix((np.ones(len(r)), (a_index, n_a + b_index)), shape=(n_a + len(b_ids),) * 2)
    _, component = connected_components(graph, directed=False)
    chosen = []
    edge_component = component[a_index]
    for label in np.unique(edge_component):
        edges = np.flatnonzero(edge_component == label)
        rows, row_of = np.unique(a_index[edges], return_inverse=True)
        cols, col_of = np.unique(b_index[edges], return_inverse=True)
        weight = np.zeros((len(rows), len(cols)))
        is_edge = np.zeros_like(weight, dtype=bool)
        weight[row_of, col_of], is_edge[row_of, col_of] = r[edges], True
        # a non-edge costs 0, so it stands for "unmatched" and an edge is taken only where it adds r > 0
        cost = np.where(is_edge, -weight, 0.0)
        matched_rows, matched_cols = linear_sum_assignment(cost)
        real = is_edge[matched_rows, matched_cols] & (weight[matched_rows, matched_cols] > 0)
        chosen.append(pd.DataFrame({
            "b_feature": b_ids[cols[matched_cols[real]]], "a_partner": a_ids[rows[matched_rows[real]]], "r": weight[matched_rows, matched_cols][real],
        }))  # fmt: skip
    if not chosen:
        return pd.DataFrame({"b_feature": np.array([], dtype=np.int64), "a_partner": np.array([], dtype=np.int64), "r": []})
    return pd.concat(chosen).sort_values("b_feature").reset_index(drop=True)


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


def collapse_stats(pairs: pd.DataFrame, live_a: int, live_b: int) -> dict:
    """Information collapse of a set of pairs.

    coverage_b: share of live B features in the set; coverage_a: share of live A features that
    are a partner in it; distinct_partner_ratio: distinct A partners / pairs (1 for a 1-1 set);
    effective_partners: exp of the entropy of the partner distribution (= pairs for a 1-1 set).
    """
    n = len(pairs)
    counts = pairs["a_partner"].value_counts().to_numpy()
    p = counts / max(n, 1)
    return {
        "coverage_b": n / live_b,
        "coverage_a": len(counts) / live_a,
        "distinct_partner_ratio": len(counts) / n if n else 0.0,
        "effective_partners": float(np.exp(-(p * np.log(p)).sum())) if n else 0.0,
    }


def hubs(pairs: pd.DataFrame, count: int) -> pd.DataFrame:
    """The `count` most-mapped A features (a_feature, multiplicity, mean r of their B features), ties to the lower index."""
    grouped = pairs.groupby("a_partner").agg(multiplicity=("b_feature", "size"), mean_r=("r", "mean")).reset_index()
    grouped = grouped.rename(columns={"a_partner": "a_feature"}).sort_values(["multiplicity", "a_feature"], ascending=[False, True])
    return grouped.head(count).reset_index(drop=True)
