"""Score subsets of a comparison's filtered pairs: every metric with its nulls, per layer pair.

Shared by the main body (the 1-1 set) and the appendix (multiplicity buckets): a subset
builder turns one layer pair's kept pairs and kept edges into the subsets to score.
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

from universality import io, layout
from universality.activations.cache import load_layer_pair
from universality.executors import Unit, run_units
from universality.pairing.ground_truth import planted_recovery
from universality.pairing.subsets import Subset, collapse_stats
from universality.params.schema import Params
from universality.similarity.engine import Engine, engine_for
from universality.similarity.metrics import METRICS
from universality.similarity.nulls import NullSettings, compare, null_settings
from universality.similarity.size_matched import FeaturePools

log = logging.getLogger(__name__)

SubsetBuilder = Callable[[pd.DataFrame, pd.DataFrame], list[Subset]]


def score_subsets(
    params: Params, comparison: str, build_subsets: SubsetBuilder, scored: dict | None = None
) -> tuple[list[dict], pd.DataFrame]:
    """Result records and null scores of every subset of every layer pair of `comparison`, one unit per layer pair.

    A subset is scored once: one with the same pairs as a subset in `scored` (another stage's, see
    `scored_in`) or listed earlier takes that subset's scores, which its seed would reproduce.
    """
    scored, gpus = scored or {}, int(params.nulls.device != "cpu")  # the nulls' batched matmuls are a GPU's where there is one
    units = [
        Unit((layer_a, layer_b), score_layer_pair, (params, comparison, layer_a, layer_b, build_subsets,
             {digest: scores for (la, lb, digest), scores in scored.items() if (la, lb) == (layer_a, layer_b)}), gpus, f"L{layer_a}-L{layer_b}")
        for layer_a, layer_b in params.layer_pairs(comparison)
    ]  # fmt: skip
    records, nulls = [], []
    for layer_records, layer_nulls in run_units(units, f"score {comparison}").values():
        records += layer_records
        nulls += layer_nulls
    empty = pd.DataFrame({"layer_a": [], "layer_b": [], "subset": [], "null": []} | {metric: [] for metric in METRICS})
    return records, pd.concat(nulls, ignore_index=True) if nulls else empty


def score_layer_pair(params: Params, comparison: str, layer_a: int, layer_b: int, build_subsets: SubsetBuilder,
                     scored: dict[str, tuple[dict, dict | None]]) -> tuple[list[dict], list[pd.DataFrame]]:  # fmt: skip
    """One unit: the records and null-score tables of every subset of one layer pair; `scored` holds its subsets already scored, by digest."""
    scored = dict(scored)
    pair_dir = layout.pair(comparison)
    summary = io.read_json(pair_dir / "summary.json")
    engine, settings = engine_for(params), null_settings(params.nulls)
    cache_a, cache_b = load_layer_pair(params.comparisons[comparison], layer_a, layer_b)
    key = layout.layer_pair_key(layer_a, layer_b)
    pairs = io.read_parquet(pair_dir / f"pairs_{key}.parquet")
    edges = io.read_parquet(pair_dir / f"edges_{key}.parquet")
    reverse = io.read_parquet(pair_dir / f"reverse_{key}.parquet")
    kept = pairs[pairs["kept"]]
    pools = feature_pools(cache_a.W_dec, cache_b.W_dec, pairs, reverse)
    records, nulls = [], []
    for subset in build_subsets(kept, edges[edges["kept"]]):
        partners, b_features = subset.pairs["a_partner"].to_numpy(), subset.pairs["b_feature"].to_numpy()
        digest = pairs_digest(subset.pairs)
        if digest not in scored:
            log.info("scoring %s, layer pair L%d-L%d: %d pairs", subset.name, layer_a, layer_b, len(subset.pairs))
            scores = score_pairs(subset.pairs, cache_a.W_dec, cache_b.W_dec, pools, engine, settings, [params.nulls.seed, layer_a, layer_b])
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
            "collapse": collapse_stats(subset.pairs, summary[key]["live_a"], summary[key]["live_b"]),
        } | scores
        if cache_a.world_ids is not None and cache_b.world_ids is not None:
            record["planted"] = planted_recovery(cache_a.world_ids[partners], cache_b.world_ids[b_features])
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


def scored_in(directory) -> dict[tuple, tuple[dict, dict | None]]:
    """Another stage's scores and null scores by (layer_a, layer_b, pairs digest), for `score_subsets` to reuse."""
    null_scores = io.read_parquet(directory / "null_scores.parquet")
    out = {}
    for record in io.read_json(directory / "results.json"):
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


def write_scored(directory, records: list[dict], null_scores: pd.DataFrame) -> None:
    io.write_json(directory / "results.json", records)
    io.write_parquet(directory / "null_scores.parquet", null_scores)


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
