"""Score subsets of a layer pair's filtered pairs: every metric with its nulls.

Shared by the main body (the 1-1 set) and the appendix (multiplicity buckets): a subset
builder turns one layer pair's kept pairs and kept edges into the subsets to score, and
`layer_pairs.score_subsets` reads each layer pair's inputs and fans the layer pairs out.
Where both sources are planted, each record also says how many pairs are correct.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from universality.activations.ground_truth import planted_recovery
from universality.pairing.subsets import Subset, collapse_stats
from universality.similarity.engine import Engine
from universality.similarity.metrics import METRICS
from universality.similarity.nulls import NullSettings, compare
from universality.similarity.size_matched import FeaturePools

log = logging.getLogger(__name__)

SubsetBuilder = Callable[[pd.DataFrame, pd.DataFrame], list[Subset]]  # (kept pairs, kept edges) -> the subsets to score
Reusable = dict[tuple[int, int, str], tuple[dict, dict | None]]  # (layer_a, layer_b, pairs digest) -> (scores, null scores)


def score_layer_pair(layer_pair: tuple[int, int], subsets: list[Subset], pairs: pd.DataFrame, W_dec: tuple[np.ndarray, np.ndarray],
                     pools: FeaturePools, pairable: tuple[int, int], world_ids: tuple[np.ndarray | None, np.ndarray | None],
                     engine: Engine, settings: NullSettings, seed: list[int],
                     scored: dict[str, tuple[dict, dict | None]]) -> tuple[list[dict], list[pd.DataFrame]]:  # fmt: skip
    """The records and null-score tables of `subsets` of one layer pair, drawn from its `pairs` (all, before filters).

    `scored` holds subsets of this layer pair already scored, by pairs digest; a subset with the
    same pairs takes their scores. Where both sides are planted (`world_ids`), each record also
    says how many pairs are correct.
    """
    scored = dict(scored)
    layer_a, layer_b = layer_pair
    kept = pairs[pairs["kept"]]
    records, nulls = [], []
    for subset in subsets:
        partners, b_features = subset.pairs["a_partner"].to_numpy(), subset.pairs["b_feature"].to_numpy()
        digest = pairs_digest(subset.pairs)
        if digest not in scored:
            log.info("scoring %s, layer pair L%d-L%d: %d pairs", subset.name, layer_a, layer_b, len(subset.pairs))
            scores = score_pairs(subset.pairs, *W_dec, pools, engine, settings, seed)
            scored[digest] = scores, scores.pop("null_scores", None)
        else:
            log.info("%s, layer pair L%d-L%d: the same pairs as a subset already scored", subset.name, layer_a, layer_b)
        scores, null_scores = copy.deepcopy(scored[digest][0]), scored[digest][1]
        record = {
            "layer_a": layer_a,
            "layer_b": layer_b,
            "subset": subset.name,
            "label": subset.label,
            "kind": subset.kind,
            "pairs_before_filter": len(pairs),
            "removed_by_filters": len(pairs) - len(kept),
            "distinct_a": int(subset.pairs["a_partner"].nunique()),
            "pairs_digest": digest,
            "collapse": collapse_stats(subset.pairs, *pairable),
        } | scores
        if world_ids[0] is not None and world_ids[1] is not None:
            record["planted"] = planted_recovery(world_ids[0][partners], world_ids[1][b_features])
        records.append(record)
        for null, by_metric in (null_scores or {}).items():
            nulls.append(pd.DataFrame({"layer_a": layer_a, "layer_b": layer_b, "subset": subset.name, "null": null} | by_metric))
    return records, nulls


_RECORD_FIELDS = (
    "layer_a",
    "layer_b",
    "subset",
    "label",
    "kind",
    "pairs_before_filter",
    "removed_by_filters",
    "distinct_a",
    "pairs_digest",
    "collapse",
    "planted",
)


def reusable_scores(records: list[dict], null_scores: pd.DataFrame) -> Reusable:
    """Scored records and their null scores by (layer_a, layer_b, pairs digest), for another stage to reuse."""
    out = {}
    for record in records:
        rows = null_scores[
            (null_scores["layer_a"] == record["layer_a"])
            & (null_scores["layer_b"] == record["layer_b"])
            & (null_scores["subset"] == record["subset"])
        ]
        by_null = {null: {metric: draws[metric].to_numpy() for metric in METRICS} for null, draws in rows.groupby("null", sort=False)}
        out[record["layer_a"], record["layer_b"], record["pairs_digest"]] = (
            {k: v for k, v in record.items() if k not in _RECORD_FIELDS},
            by_null or None,
        )
    return out


def score_pairs(pairs: pd.DataFrame, rows_a: np.ndarray, rows_b: np.ndarray, pools: FeaturePools, engine: Engine,
                settings: NullSettings, seed: list[int]) -> dict[str, Any]:  # fmt: skip
    """`compare` of a subset's pairs (rows_a[a_partner] against rows_b[b_feature]), seeded by `seed` and the pairs' digest,
    so that the same pairs of the same layer pair get the same scores in every stage."""
    partners, b_features = pairs["a_partner"].to_numpy(), pairs["b_feature"].to_numpy()
    return compare(rows_a[partners], rows_b[b_features], partners, pools, engine, settings, [*seed, int(pairs_digest(pairs), 16)])


def feature_pools(W_dec_a, W_dec_b, pairs: pd.DataFrame, reverse: pd.DataFrame) -> FeaturePools:
    """The size-matched null's pools: decoder rows of the features that pass the per-feature filters."""
    a_ok, b_ok = reverse[reverse["passes_feature_filters"]], pairs[pairs["b_passes_feature_filters"]]
    return FeaturePools(W_dec_a[a_ok["a_feature"].to_numpy()], W_dec_b[b_ok["b_feature"].to_numpy()], b_ok["a_partner"].to_numpy())


def pairs_digest(pairs: pd.DataFrame) -> str:
    """A short fingerprint of a subset's (B feature, A partner) pairs, whatever their order: equal subsets share it."""
    table = pairs[["b_feature", "a_partner"]].sort_values(["b_feature", "a_partner"]).to_numpy(dtype=np.int64)
    return hashlib.sha256(table.tobytes()).hexdigest()[:16]


def headline_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The 1-1 scores per layer pair, for `dvc metrics show`."""
    metrics = {}
    for record in records:
        key = f"L{record['layer_a']}_L{record['layer_b']}"
        metrics[key] = {"n": record["n"]}
        if record["status"] == "ok":
            for metric in METRICS:
                scores = record[metric]
                metrics[key] |= {metric: scores["observed"], f"{metric}_p_size_matched": scores["size_matched"]["p"]}
        if "planted" in record:
            metrics[key]["planted_share_correct"] = record["planted"]["share_correct"]
    return metrics
