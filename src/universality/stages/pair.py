"""Stage `pair`: pair every layer pair of a comparison, filter, size the 1-1 rules, list hubs."""

from __future__ import annotations

import dataclasses
import logging

from universality import io, layout
from universality.activations.cache import load_layer_pair
from universality.pairing.layer_pair import pair_layers
from universality.params.schema import Params
from universality.sources.windows import load_token_text

log = logging.getLogger(__name__)


def _setup(params: Params, comparison: str) -> dict:
    """What was compared: both sources' specs and metrics, and the token set's spec."""
    spec = params.comparisons[comparison]
    sides = {}
    for side, source in (("a", spec.a), ("b", spec.b)):
        sides[side] = {
            "source": source,
            "spec": dataclasses.asdict(params.sources[source]),
            "model": io.read_json(layout.model_metrics(source)),
            "quality": io.read_json(layout.quality_metrics(source)),
        }
    return {"comparison": comparison, "token_set": dataclasses.asdict(params.token_sets[spec.tokens])} | sides


def run(params: Params, name: str) -> None:
    """Max-correlation pairing of every layer pair of comparison NAME, then its filters, 1-1 rules and hubs."""
    text = load_token_text(layout.tokens(params.comparisons[name].tokens))
    directory = layout.pair(name)
    summary, hub_tables = {}, {}
    for layer_a, layer_b in params.layer_pairs(name):
        cache_a, cache_b = load_layer_pair(params.comparisons[name], layer_a, layer_b)
        log.info("pairing %s, layer pair A L%d - B L%d (%s)", name, layer_a, layer_b, params.pairing.method)
        tables = pair_layers(cache_a, cache_b, text, params.pairing, params.filters, params.hubs)
        key = layout.layer_pair_key(layer_a, layer_b)
        io.write_parquet(directory / f"pairs_{key}.parquet", tables.pairs)
        io.write_parquet(directory / f"reverse_{key}.parquet", tables.reverse)
        io.write_parquet(directory / f"edges_{key}.parquet", tables.edges)
        summary[key] = {"layer_a": layer_a, "layer_b": layer_b} | tables.summary
        hub_tables[key] = tables.hubs
    io.write_json(directory / "summary.json", summary)
    io.write_json(directory / "hubs.json", hub_tables)
    io.write_json(directory / "setup.json", _setup(params, name))
