"""Stage `extract`: one activation cache per layer of a source, and the SAEs' quality."""

from __future__ import annotations

from universality import io, layout, sources
from universality.artifacts import provenance
from universality.params.schema import Params


def run(params: Params, name: str) -> None:
    """Encode source NAME's activations over its token set with every layer's SAE (the GPU stage)."""
    layout.extract_scratch(name).mkdir(parents=True, exist_ok=True)  # a declared output, even when nothing is checkpointed
    io.remove_leftovers(layout.extract_scratch(name))  # chunks a killed run was writing
    with provenance.writing_set(layout.activations(name)) as out:
        quality = sources.implementation(params.sources[name].kind, "extract").build(name, params, out)
        io.write_json(out / layout.QUALITY_FILE, quality)
    io.write_json(layout.quality_metrics(name), quality)  # a copy for `dvc metrics show`
