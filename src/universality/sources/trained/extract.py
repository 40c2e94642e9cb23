"""Activations of the `trained` kind: the shared language-model extraction of the trained model."""

from __future__ import annotations

from universality import io, layout
from universality.activations.language_model import extract_language_model
from universality.devices import resolve_device
from universality.params.schema import Params
from universality.sources.sae_files import SAE_WEIGHTS_FILE, load_sae
from universality.sources.trained.language_model import WEIGHTS_FILE, load_toy_model


def build(name: str, params: Params) -> dict:
    """Activation caches of every layer of source `name`; returns the quality per layer."""
    device = resolve_device(params.extract.device, "extract.device")
    layers = params.sources[name].layers()
    model = load_toy_model(layout.model(name), device=device)
    saes = {layer: load_sae(layout.sae(name, layer), device=device) for layer in layers}
    descriptions = {
        "model": io.sha256_file(layout.model(name) / WEIGHTS_FILE),
        "saes": {layer: f"{layout.sae(name, layer)} sha256:" + io.sha256_file(layout.sae(name, layer) / SAE_WEIGHTS_FILE) for layer in layers},
    }
    return extract_language_model(name, params, model, saes, device, descriptions)
