"""Stage `pair`: pair every layer pair of a comparison, filter, size the 1-1 rules, list hubs."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from universality import io, layout
from universality.activations.cache import ActivationCache, load_layer_pair
from universality.artifacts import provenance
from universality.executors import Unit, run_units
from universality.pairing.layer_pair import LayerPairTables, pair_layers
from universality.pairing.shuffled import shuffled_rows
from universality.params.schema import Params
from universality.token_sets import TokenText, load_token_text

log = logging.getLogger(__name__)


def _setup(params: Params, comparison: str) -> dict:
    """What was compared, as the inputs' records say: both sources' and models' specs and quality, and the token set's spec."""
    spec = params.comparisons[comparison]
    sides = {}
    for side, source in (("a", spec.a), ("b", spec.b)):
        caches = layout.activations(source)
        sides[side] = {
            "source": source,
            "spec": provenance.recorded_params(caches, f"sources.{source}"),
            "model_spec": provenance.recorded_params(caches, f"models.{params.sources[source].model}"),
            "quality": io.read_json(caches / layout.QUALITY_FILE),
        }
    return {
        "comparison": comparison,
        "token_set": provenance.recorded_params(layout.tokens(spec.tokens), f"token_sets.{spec.tokens}"),
    } | sides


def _restricted(cache: ActivationCache, text: TokenText | None, rows: np.ndarray) -> tuple[ActivationCache, TokenText | None]:
    """A cache and its text restricted to (and reordered by) token `rows`."""
    return dataclasses.replace(cache, codes=cache.codes[rows]), None if text is None else text.rows(rows)


def _shuffle_windows(seed: int, cache_a: ActivationCache, cache_b: ActivationCache, text: TokenText | None):
    """A's tokens against B's tokens of other windows (the pairing-level null), with each side's text."""
    n_tokens = cache_a.codes.shape[0]
    windows = text.positions[:, 0] if text is not None else np.arange(n_tokens)
    rows_a, rows_b = shuffled_rows(windows, seed)
    log.info("B's windows shuffled (seed %d): %d of %d tokens kept", seed, len(rows_a), n_tokens)
    (cache_a, text_a), (cache_b, text_b) = _restricted(cache_a, text, rows_a), _restricted(cache_b, text, rows_b)
    return cache_a, cache_b, (text_a, text_b), {"shuffled_windows": {"seed": seed, "tokens_dropped": n_tokens - len(rows_a)}}


def run(params: Params, name: str) -> None:
    """Max-correlation pairing of every layer pair of comparison NAME, then its filters, 1-1 rules and hubs."""
    gpus = int(params.pairing.method == "dense")  # the dense method's matmuls are the GPU's
    units = [Unit((layer_a, layer_b), pair_layer_pair, (params, name, layer_a, layer_b), gpus, f"L{layer_a}-L{layer_b}")
             for layer_a, layer_b in params.layer_pairs(name)]  # fmt: skip
    results = run_units(units, f"pair {name}")
    summary, hub_tables = {}, {}
    with provenance.writing_set(layout.pair(name)) as directory:
        for (layer_a, layer_b), (tables, shuffle) in results.items():
            key = layout.layer_pair_key(layer_a, layer_b)
            io.write_parquet(directory / f"pairs_{key}.parquet", tables.pairs)
            io.write_parquet(directory / f"reverse_{key}.parquet", tables.reverse)
            io.write_parquet(directory / f"edges_{key}.parquet", tables.edges)
            summary[key] = {"layer_a": layer_a, "layer_b": layer_b} | tables.summary | shuffle
            hub_tables[key] = tables.hubs
        io.write_json(directory / "summary.json", summary)
        io.write_json(directory / "hubs.json", hub_tables)
        io.write_json(directory / "setup.json", _setup(params, name))
    io.write_json(
        layout.stage_metrics(name, "pair"), {key: _headline(record, params.subsets.one_to_one) for key, record in summary.items()}
    )


def pair_layer_pair(params: Params, name: str, layer_a: int, layer_b: int) -> tuple[LayerPairTables, dict]:
    """One unit: the pairing tables of one layer pair of comparison NAME, and its window shuffle if any."""
    comparison = params.comparisons[name]
    text = load_token_text(layout.tokens(comparison.tokens))  # small next to the caches: each unit reads it
    cache_a, cache_b = load_layer_pair(comparison, layer_a, layer_b)
    log.info("pairing %s, layer pair A L%d - B L%d (%s)", name, layer_a, layer_b, params.pairing.method)
    texts, shuffle = (text, text), {}
    if comparison.shuffle_seed is not None:
        cache_a, cache_b, texts, shuffle = _shuffle_windows(comparison.shuffle_seed, cache_a, cache_b, text)
    return pair_layers(cache_a, cache_b, texts, params.pairing, params.filters, params.hubs), shuffle


def _headline(summary: dict, rule: str) -> dict:
    """What `dvc metrics show` lists per layer pair: the 1-1 set's size, the largest multiplicity, the dead shares."""
    return {
        "one_to_one_n": summary["one_to_one"][rule]["n"],
        "kept_pairs": summary["filters"]["kept"],
        "max_multiplicity": summary["max_multiplicity"],
        "dead_fraction_a": summary["dead_a"] / summary["n_features_a"],
        "dead_fraction_b": summary["dead_b"] / summary["n_features_b"],
    }
