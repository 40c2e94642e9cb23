"""Stage `saes`: build one SAE per layer of a source into data/<source>/saes/."""

from __future__ import annotations

from universality import layout, sources
from universality.artifacts import provenance
from universality.params.schema import Params


def run(params: Params, name: str) -> None:
    """Build source NAME's SAEs, one per layer (trained with SAELens, or named on the hub)."""
    with provenance.writing_set(layout.saes(name)) as out:
        sources.implementation(params.sources[name].kind, "saes").build(name, params, out)
