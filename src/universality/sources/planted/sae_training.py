"""Planted SAEs: a TopK SAE trained with SAELens on an endless stream of a planted source's activations."""

from __future__ import annotations

import numpy as np
import torch
from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.synthetic import train_toy_sae

from universality.params.schema import PlantedSAE, PlantedTokens
from universality.sources.planted.world import PlantedDictionary, activation_generator


def train_planted_sae(model: PlantedDictionary, spec: PlantedSAE, world: PlantedTokens, world_probabilities: np.ndarray) -> TopKTrainingSAE:
    """Train a TopK SAE (seeded by `spec.seed`) on activations of the world's latents through `model`."""
    torch.manual_seed(spec.seed)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=model.feature_vectors.shape[1], d_sae=spec.d_sae, k=spec.k, device="cpu"))
    generator = activation_generator(world, world_probabilities[model.world_ids])
    train_toy_sae(
        sae,
        model.feature_dictionary(),
        generator,
        training_samples=spec.training.training_samples,
        batch_size=spec.training.batch_size,
        lr=spec.training.lr,
    )
    return sae
