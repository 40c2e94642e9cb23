"""Stage `tokens`: build one token set (its kind's builder) into data/tokens/<name>/."""

from __future__ import annotations

from universality import layout, sources
from universality.artifacts import provenance
from universality.params.schema import Params


def run(params: Params, name: str) -> None:
    """Build token set NAME: the fixed tokens both models of a comparison read, and their hash."""
    with provenance.writing_set(layout.tokens(name)) as out:
        sources.implementation(params.token_sets[name].kind, "tokens").build(name, params, out)
