"""Model of the `pretrained` kind: the hub model's name, recorded; weights load at extraction."""

from __future__ import annotations

from pathlib import Path

from universality.params.schema import Params
from universality.sources.pretrained.names import write_model_name


def build(name: str, params: Params, out: Path) -> dict:
    spec = params.models[name]
    write_model_name(out, spec.model_name, spec.checkpoint)
    return {}
