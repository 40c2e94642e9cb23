"""SAEs on disk: save the inference form atomically, load it back (SAELens' own format)."""

from __future__ import annotations

import json
from pathlib import Path

from sae_lens import SAE, TrainingSAE

from universality import io
from universality.io import dumps_json, require

SAE_WEIGHTS_FILE = "sae_weights.safetensors"  # SAELens' name for the weights


def save_sae(sae: SAE, directory: str | Path) -> None:
    """Save the inference form of `sae` into `directory` (a folder of the output set being written)."""
    directory = Path(directory)
    save = sae.save_inference_model if isinstance(sae, TrainingSAE) else sae.save_model
    save(directory)
    config = directory / "cfg.json"  # SAELens writes its keys in varying order: sort them
    io.write_text(config, dumps_json(json.loads(config.read_text())))


def load_sae(directory: str | Path, device: str = "cpu") -> SAE:
    directory = Path(directory)
    require(directory / "cfg.json")
    return SAE.load_from_disk(directory, device=device)
