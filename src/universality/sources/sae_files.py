"""SAEs on disk: save the inference form atomically, load it back (SAELens' own format)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from sae_lens import SAE, TrainingSAE

from universality.io import dumps_json, require

SAE_WEIGHTS_FILE = "sae_weights.safetensors"  # SAELens' name for the weights


def save_sae(sae: SAE, directory: str | Path) -> None:
    """Save the inference form of `sae` into `directory`, replacing it only once complete."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        save = sae.save_inference_model if isinstance(sae, TrainingSAE) else sae.save_model
        save(staging)
        config = staging / "cfg.json"  # SAELens writes its keys in varying order: sort them
        config.write_text(dumps_json(json.loads(config.read_text())))
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_sae(directory: str | Path, device: str = "cpu") -> SAE:
    directory = Path(directory)
    require(directory / "cfg.json")
    return SAE.load_from_disk(directory, device=device)
