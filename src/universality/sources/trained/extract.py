"""Activations of the `trained` kind: the shared language-model extraction of the trained model."""

from __future__ import annotations

import functools
from pathlib import Path

from universality import io, layout
from universality.activations.language_model import extract_language_model
from universality.params.schema import Params
from universality.sources.language_models import load_language_model
from universality.sources.sae_files import SAE_WEIGHTS_FILE, load_sae


def load(name: str, params: Params, device: str) -> tuple:
    """The model under source `name` and its SAEs on `device`, with what identifies them (weights' hashes)."""
    model, weights = load_language_model(params, params.sources[name].model, device=device)
    saes = {layer: load_sae(layout.sae(name, layer), device=device) for layer in params.layers(name)}
    return (
        model,
        saes,
        {
            "model": weights,
            "saes": {
                layer: f"{layout.sae(name, layer)} sha256:" + io.sha256_file(layout.sae(name, layer) / SAE_WEIGHTS_FILE) for layer in saes
            },
        },
    )


def build(name: str, params: Params, out: Path) -> dict:
    """Activation caches of every layer of source `name`; returns the quality per layer."""
    return extract_language_model(name, params, functools.partial(load, name, params), out)
