"""Sparse autoencoders: training with SAELens and loading from disk."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from sae_lens import SAE, TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.synthetic import train_toy_sae

from universality.io import dumps_json
from universality.params import SAETraining, Synthetic, SyntheticModel
from universality.synthetic import PlantedModel, activation_generator


def train_planted_sae(
    model: PlantedModel,
    spec: SyntheticModel,
    syn: Synthetic,
    world_probabilities: np.ndarray,
    training: SAETraining,
    seed: int,
) -> TopKTrainingSAE:
    """Train a TopK SAE with SAELens on an endless stream of the planted model's activations."""
    torch.manual_seed(seed)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=spec.d_model, d_sae=spec.d_sae, k=spec.k, device="cpu"))
    generator = activation_generator(syn, world_probabilities[model.world_ids])
    train_toy_sae(
        sae,
        model.feature_dictionary(),
        generator,
        training_samples=training.training_samples,
        batch_size=training.batch_size,
        lr=training.lr,
    )
    return sae


def save_sae(sae: TopKTrainingSAE, directory: str | Path) -> None:
    """Save the inference form of `sae` into `directory`, replacing it only once complete."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        sae.save_inference_model(staging)
        config = staging / "cfg.json"  # SAELens writes its keys in varying order: sort them
        config.write_text(dumps_json(json.loads(config.read_text())))
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_sae(directory: str | Path, device: str = "cpu") -> SAE:
    directory = Path(directory)
    if not (directory / "cfg.json").exists():
        raise FileNotFoundError(f"no SAE in {directory}: rebuild it with `dvc repro saes`")
    return SAE.load_from_disk(directory, device=device)
