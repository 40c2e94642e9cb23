"""The planted world: latent features shared in part by two sides, and each source's dictionary.

A world of latent features fires on each token (SAELens' ActivationGenerator). A planted
source on side a sees the shared features plus side a's private ones through a feature
dictionary in its own d_model; a source on side b sees the shared features plus side b's.
The shared features' directions live in the world (d_world dimensions) and each source
embeds them, mixed with its own random directions by `geometry_noise`. Because every
token's latent activations are known, the correct pairing of SAE features is known too.

World feature ids: [0, n_shared) shared, then n_private private to side a, then side b's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sae_lens.synthetic import ActivationGenerator, FeatureDictionary, zipfian_firing_probabilities

from universality.params.schema import PlantedModel, PlantedTokens

MEAN_FIRING_MAGNITUDE = 1.0


def n_world_features(world: PlantedTokens) -> int:
    return world.n_shared + 2 * world.n_private


def world_ids(world: PlantedTokens, side: str) -> np.ndarray:
    """World feature ids seen from `side` (a or b): the shared block, then that side's private block."""
    private_start = world.n_shared + "ab".index(side) * world.n_private
    return np.concatenate([np.arange(world.n_shared), np.arange(private_start, private_start + world.n_private)])


def firing_probabilities(world: PlantedTokens, seed: int) -> np.ndarray:
    """Zipfian firing probabilities, assigned to world features in a seeded random order."""
    probs = zipfian_firing_probabilities(
        n_world_features(world), exponent=world.firing_exponent, max_prob=world.firing_max_prob, min_prob=world.firing_min_prob
    ).numpy()
    order = np.random.default_rng(seed).permutation(len(probs))
    return probs[order].astype(np.float32)


def activation_generator(world: PlantedTokens, probabilities: np.ndarray) -> ActivationGenerator:
    return ActivationGenerator(
        len(probabilities),
        torch.from_numpy(probabilities),
        std_firing_magnitudes=world.magnitude_std,
        mean_firing_magnitudes=MEAN_FIRING_MAGNITUDE,
    )


def sample_latents(world: PlantedTokens, probabilities: np.ndarray, n_tokens: int, seed: int, batch: int = 4096) -> sp.csr_matrix:
    """Latent world-feature activations for `n_tokens` tokens (the synthetic token set), as CSR."""
    torch.manual_seed(seed)
    generator = activation_generator(world, probabilities)
    blocks = []
    for start in range(0, n_tokens, batch):
        dense = generator(min(batch, n_tokens - start)).numpy()
        blocks.append(sp.csr_matrix(dense))
    return sp.vstack(blocks, format="csr").astype(np.float32)


@dataclass(frozen=True)
class PlantedDictionary:
    """A planted source's model: its feature directions (rows) and the world ids they belong to."""

    feature_vectors: np.ndarray
    world_ids: np.ndarray

    def feature_dictionary(self) -> FeatureDictionary:
        n_features, d_model = self.feature_vectors.shape
        dictionary = FeatureDictionary(n_features, d_model, initializer=None)
        dictionary.feature_vectors.data = torch.from_numpy(self.feature_vectors.copy())
        return dictionary

    def activations(self, latents: sp.csr_matrix) -> np.ndarray:
        """Dense model activations for the given world latents (tokens x d_model)."""
        return np.asarray(latents[:, self.world_ids] @ self.feature_vectors, dtype=np.float32)


def planted_dictionary(world: PlantedTokens, spec: PlantedModel, shared_directions: np.ndarray) -> PlantedDictionary:
    """A source's feature directions: the world's shared ones embedded in d_model, then its private ones.

    The shared directions go through an isometric map of the world's space into d_model
    (orthonormal rows, seeded by the source), so two sources with geometry_noise 0 are
    related by a linear (indeed orthogonal) map; geometry_noise mixes in the source's own
    random directions, which at 1 make the shared geometry unrelated.
    """
    if spec.d_model < world.d_world:
        raise ValueError(f"a planted d_model ({spec.d_model}) must be at least the world's d_world ({world.d_world})")
    own = FeatureDictionary(world.n_shared + world.n_private, spec.d_model, seed=spec.seed).feature_vectors.detach().numpy()
    basis, _ = np.linalg.qr(np.random.default_rng(spec.seed).standard_normal((spec.d_model, world.d_world)))
    vectors = own.copy()
    vectors[: world.n_shared] = (1.0 - spec.geometry_noise) * shared_directions @ basis.T + spec.geometry_noise * own[: world.n_shared]
    return PlantedDictionary(vectors.astype(np.float32), world_ids(world, spec.side))


def shared_feature_directions(world: PlantedTokens) -> np.ndarray:
    """The shared planted features' directions in the world's d_world-dimensional space."""
    return FeatureDictionary(world.n_shared, world.d_world, seed=world.seed).feature_vectors.detach().numpy().astype(np.float32)
