"""Stage `saes`: build one SAE per layer of a source into data/<source>/saes/."""

from __future__ import annotations

from universality import sources
from universality.params.schema import Params


def run(params: Params, name: str) -> None:
    """Build source NAME's SAEs, one per layer (trained with SAELens, or named on the hub)."""
    sources.implementation(params.sources[name].kind, "saes").build(name, params)
