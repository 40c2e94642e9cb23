"""SAEs of the `pretrained` kind: each layer's published SAE, recorded by loader, release and id."""

from __future__ import annotations

from pathlib import Path

from universality.params.schema import Params
from universality.sources.pretrained.names import write_sae_entries


def build(name: str, params: Params, out: Path) -> None:
    source = params.sources[name]
    sae = source.sae
    entries = {
        layer: {"loader": sae.loader, "release": sae.release, "sae_id": sae.sae_id.format(layer=layer)} for layer in params.layers(name)
    }
    write_sae_entries(out, entries)
