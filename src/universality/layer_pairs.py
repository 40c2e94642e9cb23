"""What the stages that work per layer pair share: reading one layer pair's inputs, fanning the
scoring out over layer pairs, and reading and writing scored sets.

The analysis itself (`similarity.scoring`, `collapse`, `subspaces`) takes arrays and tables and
returns records; this module is where the scoring stages (`main_one_to_one`,
`appendix_buckets`), `collapse` and `subspaces` read the activation caches and `pair`'s tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from universality import io, layout
from universality.activations.cache import ActivationCache, load_layer_pair
from universality.executors import Unit, run_units
from universality.params.schema import Params
from universality.similarity.engine import engine_for
from universality.similarity.metrics import METRICS
from universality.similarity.nulls import null_settings
from universality.similarity.scoring import Reusable, SubsetBuilder, feature_pools, reusable_scores, score_layer_pair

log = logging.getLogger(__name__)

RESULTS_FILE, NULL_SCORES_FILE = "results.json", "null_scores.parquet"


@dataclass(frozen=True)
class LayerPairInputs:
    """One layer pair of a comparison: both activation caches and `pair`'s tables for it."""

    cache_a: ActivationCache
    cache_b: ActivationCache
    pairs: pd.DataFrame
    edges: pd.DataFrame
    reverse: pd.DataFrame
    pairable: tuple[int, int]  # features of A and of B that could be paired (the summary's live_a, live_b)


def read_layer_pair(params: Params, comparison: str, layer_a: int, layer_b: int) -> LayerPairInputs:
    """The caches of layer pair (layer_a, layer_b) of `comparison` and the tables `pair` wrote for it."""
    folder, key = layout.pair(comparison), layout.layer_pair_key(layer_a, layer_b)
    summary = io.read_json(folder / "summary.json")[key]
    cache_a, cache_b = load_layer_pair(params.comparisons[comparison], layer_a, layer_b)
    pairs, edges, reverse = (io.read_parquet(folder / f"{table}_{key}.parquet") for table in ("pairs", "edges", "reverse"))
    return LayerPairInputs(cache_a, cache_b, pairs, edges, reverse, (summary["live_a"], summary["live_b"]))


def score_subsets(
    params: Params, comparison: str, build_subsets: SubsetBuilder, scored: Reusable | None = None
) -> tuple[list[dict], pd.DataFrame]:
    """Result records and null scores of every subset of every layer pair of `comparison`, one unit per layer pair.

    A subset is scored once: one with the same pairs as a subset in `scored` (another stage's, see
    `scored_in`) or listed earlier takes that subset's scores, which its seed would reproduce.
    """
    scored, gpus = scored or {}, int(params.nulls.device != "cpu")  # the nulls' batched matmuls are a GPU's where there is one
    units = [
        Unit((layer_a, layer_b), score_unit, (params, comparison, layer_a, layer_b, build_subsets,
             {digest: scores for (la, lb, digest), scores in scored.items() if (la, lb) == (layer_a, layer_b)}), gpus, f"L{layer_a}-L{layer_b}")
        for layer_a, layer_b in params.layer_pairs(comparison)
    ]  # fmt: skip
    records, nulls = [], []
    for layer_records, layer_nulls in run_units(units, f"score {comparison}").values():
        records += layer_records
        nulls += layer_nulls
    empty = pd.DataFrame({"layer_a": [], "layer_b": [], "subset": [], "null": []} | {metric: [] for metric in METRICS})
    return records, pd.concat(nulls, ignore_index=True) if nulls else empty


def score_unit(params: Params, comparison: str, layer_a: int, layer_b: int, build_subsets: SubsetBuilder,
               scored: dict[str, tuple[dict, dict | None]]) -> tuple[list[dict], list[pd.DataFrame]]:  # fmt: skip
    """One unit: read one layer pair's inputs and score its subsets; `scored` holds its subsets already scored, by digest."""
    inputs = read_layer_pair(params, comparison, layer_a, layer_b)
    W_dec = (inputs.cache_a.W_dec, inputs.cache_b.W_dec)
    world_ids = (inputs.cache_a.world_ids, inputs.cache_b.world_ids)
    subsets = build_subsets(inputs.pairs[inputs.pairs["kept"]], inputs.edges[inputs.edges["kept"]])
    pools = feature_pools(*W_dec, inputs.pairs, inputs.reverse)
    return score_layer_pair((layer_a, layer_b), subsets, inputs.pairs, W_dec, pools, inputs.pairable, world_ids,
                            engine_for(params), null_settings(params.nulls), [params.nulls.seed, layer_a, layer_b], scored)  # fmt: skip


def scored_in(directory: Path) -> Reusable:
    """Another stage's scores and null scores by (layer_a, layer_b, pairs digest), for `score_subsets` to reuse."""
    return reusable_scores(io.read_json(directory / RESULTS_FILE), io.read_parquet(directory / NULL_SCORES_FILE))


def write_scored(directory: Path, records: list[dict], null_scores: pd.DataFrame) -> None:
    io.write_json(directory / RESULTS_FILE, records)
    io.write_parquet(directory / NULL_SCORES_FILE, null_scores)
