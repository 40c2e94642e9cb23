"""Activations of the `pretrained` kind: the hub model and SAEs through the shared extraction."""

from __future__ import annotations

import functools
from pathlib import Path

from universality.activations.language_model import extract_language_model
from universality.params.schema import Params
from universality.sources.pretrained.hub import load_hub_model, load_pretrained_sae
from universality.sources.pretrained.names import read_model_name, read_sae_entries


def load(name: str, params: Params, device: str) -> tuple:
    """The hub model under source `name` and its SAEs on `device` (needs the hub or its local cache), with their names."""
    (model_name, checkpoint), entries = read_model_name(params.sources[name].model), read_sae_entries(name)
    model = load_hub_model(model_name, device=device, checkpoint=checkpoint)
    saes = {layer: load_pretrained_sae(e["loader"], e["release"], e["sae_id"], device) for layer, e in entries.items()}
    descriptions = {
        "model": model_name if checkpoint is None else f"{model_name}@{checkpoint}",
        "saes": {layer: f"{e['loader']}:{e['release']}/{e['sae_id']}" for layer, e in entries.items()},
    }
    return model, saes, descriptions


def build(name: str, params: Params, out: Path) -> dict:
    """Activation caches of every layer of source `name`."""
    return extract_language_model(name, params, functools.partial(load, name, params), out)
