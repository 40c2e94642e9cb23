"""Activations of the `trained` kind: the shared language-model extraction of the trained model."""

from __future__ import annotations

from pathlib import Path

from universality import io, layout
from universality.activations.language_model import extract_language_model
from universality.devices import resolve_device
from universality.params.schema import Params
from universality.sources.language_models import load_language_model
from universality.sources.sae_files import SAE_WEIGHTS_FILE, load_sae


def build(name: str, params: Params, out: Path) -> dict:
    """Activation caches of every layer of source `name`; returns the quality per layer."""
    device = resolve_device(params.extract.device, "extract.device")
    layers = params.layers(name)
    model, weights = load_language_model(params, params.sources[name].model, device=device)
    saes = {layer: load_sae(layout.sae(name, layer), device=device) for layer in layers}
    descriptions = {
        "model": weights,
        "saes": {layer: f"{layout.sae(name, layer)} sha256:" + io.sha256_file(layout.sae(name, layer) / SAE_WEIGHTS_FILE) for layer in layers},
    }
    return extract_language_model(name, params, model, saes, device, descriptions, out)
