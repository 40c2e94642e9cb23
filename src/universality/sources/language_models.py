"""The language model under a source's SAEs, whether trained here or loaded from the hub.

SAEs trained here (source kind `trained`) may sit on a model of kind `trained` (a toy
transformer) or `pretrained` (a hub model at a checkpoint, e.g. Pythia's step 0 for a floor).
"""

from __future__ import annotations

from transformer_lens import HookedTransformer

from universality import io, layout
from universality.params.schema import Params
from universality.sources.pretrained.hub import load_hub_model
from universality.sources.pretrained.names import read_model_name
from universality.sources.trained.language_model import WEIGHTS_FILE, load_toy_model


def load_language_model(params: Params, model: str, device: str = "cpu") -> tuple[HookedTransformer, str]:
    """Model `model` as a HookedTransformer and what identifies its weights (a hash, or the hub name and checkpoint)."""
    kind = params.models[model].kind
    if kind == "trained":
        directory = layout.model(model)
        return load_toy_model(directory, device=device), "sha256:" + io.sha256_file(directory / WEIGHTS_FILE)
    if kind == "pretrained":
        name, checkpoint = read_model_name(model)
        return load_hub_model(name, device=device, checkpoint=checkpoint), name if checkpoint is None else f"{name}@{checkpoint}"
    raise ValueError(
        f"model {model!r} is of kind {kind!r}, not a language model: SAEs are trained here on trained or pretrained models only"
    )
