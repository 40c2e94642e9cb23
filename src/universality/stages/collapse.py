"""Stage `collapse`: why similarity rises as pairs become one-to-one, per layer pair of a comparison.

Writes results/<comparison>/collapse/: `results.json` (per layer pair the buckets' coverage,
pair strength, raw, matched, deduplicated and stratified scores, the hubs' anatomy, the trends;
per metric the verdict on the five explanations), `curves_<metric>.csv` (score against
multiplicity, for `dvc plots`) and `metrics.json`.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from universality import io, layout
from universality.artifacts import provenance
from universality.collapse.buckets import bucket_analysis
from universality.collapse.hubs import hub_anatomies
from universality.collapse.matched import entry_scores
from universality.collapse.verdict import EXPLANATIONS, VERDICT_METRICS, layer_pair_trends, verdict
from universality.executors import Unit, generator, run_units
from universality.layer_pairs import read_layer_pair
from universality.pairing.subsets import hubs, range_buckets
from universality.params.schema import Params
from universality.similarity.engine import engine_for

log = logging.getLogger(__name__)

CURVE_VARIANTS = ("matched", "deduplicated_best", "deduplicated_mean")


def _curve_rows(key: str, buckets: list[dict], metric: str) -> list[dict]:
    rows = []
    for index, bucket in enumerate(buckets):
        row = {
            "layer_pair": key,
            "bucket_index": index,
            "bucket": bucket["subset"],
            "raw": bucket["raw"][metric] if bucket["raw"] else None,
        }
        for variant in CURVE_VARIANTS:
            scores = entry_scores(bucket[variant], metric)
            row[variant] = scores["mean"] if scores else None
            if variant == "matched":
                row |= {"chance_low": scores["chance_low"] if scores else None, "chance_high": scores["chance_high"] if scores else None}
        rows.append(row)
    return rows


def run(params: Params, name: str) -> None:
    """The collapse analysis of every layer pair of comparison NAME (its `buckets: true` comparisons only)."""
    if not params.comparisons[name].buckets:
        log.info("%s: no collapse analysis (comparisons.%s.buckets is false)", name, name)
        _write(name, {"layer_pairs": [], "verdict": {}}, {metric: [] for metric in VERDICT_METRICS}, {})
        return
    units = [Unit((layer_a, layer_b), collapse_layer_pair, (params, name, layer_a, layer_b), int(params.nulls.device != "cpu"), f"L{layer_a}-L{layer_b}")
             for layer_a, layer_b in params.layer_pairs(name)]  # fmt: skip
    layer_pairs: list[dict[str, Any]] = []
    curves: dict[str, list[dict]] = {metric: [] for metric in VERDICT_METRICS}
    for (layer_a, layer_b), record in run_units(units, f"collapse {name}").items():
        layer_pairs.append(record)
        for metric in VERDICT_METRICS:
            curves[metric] += _curve_rows(layout.layer_pair_key(layer_a, layer_b), record["buckets"], metric)
    signatures = [hub["signature"] for record in layer_pairs for hub in record["hubs"]]
    verdicts = {metric: verdict([record["trends"][metric] for record in layer_pairs], signatures) for metric in VERDICT_METRICS}
    metrics = {metric: {explanation: v[explanation]["verdict"] for explanation in EXPLANATIONS} | {"raw_rising": v["premise"]["rising"]}
               for metric, v in verdicts.items()}  # fmt: skip
    _write(name, {"layer_pairs": layer_pairs, "verdict": verdicts}, curves, metrics)


def collapse_layer_pair(params: Params, name: str, layer_a: int, layer_b: int) -> dict:
    """One unit: the collapse analysis of one layer pair (buckets, hubs' anatomy, trends), with its own generator."""
    settings, key = params.collapse, layout.layer_pair_key(layer_a, layer_b)
    log.info("collapse analysis of %s, layer pair %s", name, key)
    inputs = read_layer_pair(params, name, layer_a, layer_b)
    cache_a, cache_b, pairs = inputs.cache_a, inputs.cache_b, inputs.pairs
    buckets = range_buckets(pairs[pairs["kept"]], params.subsets.ranges)
    analysed = bucket_analysis(
        engine_for(params), cache_a.W_dec, cache_b.W_dec, buckets, inputs.pairable, settings, generator(settings.seed, (layer_a, layer_b))
    )
    hub_ids = hubs(pairs, params.hubs.count)["a_feature"].tolist()
    anatomy = hub_anatomies(pairs, inputs.reverse, cache_a.codes, cache_b.codes, cache_a.W_dec, cache_b.W_dec, hub_ids, settings)
    trends = {metric: layer_pair_trends(analysed["buckets"], metric) for metric in VERDICT_METRICS}
    return {"layer_a": layer_a, "layer_b": layer_b} | analysed | {"hubs": anatomy, "trends": trends}


def _write(name: str, results: dict, curves: dict[str, list[dict]], metrics: dict) -> None:
    """The results and the curves (`dvc plots`) as one output set; the headline verdicts for `dvc metrics show`."""
    with provenance.writing_set(layout.collapse(name)) as directory:
        io.write_json(directory / "results.json", results)
        for metric, rows in curves.items():
            io.write_text(
                directory / f"curves_{metric}.csv",
                pd.DataFrame(rows, columns=None if rows else ["layer_pair", "bucket_index"]).to_csv(index=False),
            )
    io.write_json(layout.stage_metrics(name, "collapse"), metrics)
