"""Stage `model`: build one source's model into data/<source>/model/ and record its metrics."""

from __future__ import annotations

from universality import io, layout, sources
from universality.artifacts import provenance
from universality.params.schema import Params


def run(params: Params, name: str) -> None:
    """Build model NAME (trained here, left untrained, planted, or named on the hub)."""
    with provenance.writing_set(layout.model(name)) as out:
        metrics = sources.implementation(params.models[name].kind, "model").build(name, params, out)
        io.write_json(out / layout.METRICS_FILE, metrics)
    io.write_json(layout.model_metrics(name), metrics)  # a copy for `dvc metrics show`
