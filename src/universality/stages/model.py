"""Stage `model`: build one source's model into data/<source>/model/ and record its metrics."""

from __future__ import annotations

from universality import io, layout, sources
from universality.params.schema import Params


def run(params: Params, name: str) -> None:
    """Build model NAME (trained here, left untrained, planted, or named on the hub)."""
    metrics = sources.implementation(params.models[name].kind, "model").build(name, params)
    io.write_json(layout.model_metrics(name), metrics)
