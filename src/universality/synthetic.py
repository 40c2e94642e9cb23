"""The `synthetic` experiment: planted features shared in part by two models.

A 'world' of latent features fires on each token (SAELens' ActivationGenerator). Model A
sees the shared features plus its own private ones through a feature dictionary in d_A
dimensions; model B sees the shared features plus other private ones in d_B dimensions.
B's shared directions are a linear image of A's, mixed with independent random
directions by `geometry_noise` (0: linearly related, 1: unrelated). Because every token's
latent activations are known, the correct pairing of SAE features is known too.

World feature ids: [0, n_shared) shared, then n_private private to A, then n_private to B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sae_lens.synthetic import ActivationGenerator, FeatureDictionary, zipfian_firing_probabilities

from universality.params import Params, Synthetic

MEAN_FIRING_MAGNITUDE = 1.0
PLANTED_MIN_COSINE = 0.9  # an SAE feature recovers a planted feature at this decoder cosine


def n_world_features(syn: Synthetic) -> int:
    return syn.n_shared + 2 * syn.n_private


def world_ids(syn: Synthetic, model_index: int) -> np.ndarray:
    """World feature ids seen by model 0 (A) or 1 (B): the shared block, then its private block."""
    private_start = syn.n_shared + model_index * syn.n_private
    return np.concatenate([np.arange(syn.n_shared), np.arange(private_start, private_start + syn.n_private)])


def firing_probabilities(syn: Synthetic, seed: int) -> np.ndarray:
    """Zipfian firing probabilities, assigned to world features in a seeded random order."""
    probs = zipfian_firing_probabilities(
        n_world_features(syn), exponent=syn.firing_exponent, max_prob=syn.firing_max_prob, min_prob=syn.firing_min_prob
    ).numpy()
    order = np.random.default_rng(seed).permutation(len(probs))
    return probs[order].astype(np.float32)


def activation_generator(syn: Synthetic, probabilities: np.ndarray) -> ActivationGenerator:
    return ActivationGenerator(
        len(probabilities),
        torch.from_numpy(probabilities),
        std_firing_magnitudes=syn.magnitude_std,
        mean_firing_magnitudes=MEAN_FIRING_MAGNITUDE,
    )


def sample_latents(syn: Synthetic, probabilities: np.ndarray, n_tokens: int, seed: int, batch: int = 4096) -> sp.csr_matrix:
    """Latent world-feature activations for `n_tokens` tokens (the synthetic token set), as CSR."""
    torch.manual_seed(seed)
    generator = activation_generator(syn, probabilities)
    blocks = []
    for start in range(0, n_tokens, batch):
        dense = generator(min(batch, n_tokens - start)).numpy()
        blocks.append(sp.csr_matrix(dense))
    return sp.vstack(blocks, format="csr").astype(np.float32)


@dataclass(frozen=True)
class PlantedModel:
    """A synthetic model: its feature directions (rows) and the world ids they belong to."""

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


def planted_models(params: Params) -> dict[str, PlantedModel]:
    """Build both models' dictionaries; B's shared rows are tied to A's by a linear map."""
    syn, seed = params.synthetic, params.seed
    (name_a, spec_a), (name_b, spec_b) = syn.models.items()
    n_features = syn.n_shared + syn.n_private
    dict_a = FeatureDictionary(n_features, spec_a.d_model, seed=seed).feature_vectors.detach().numpy()
    dict_b = FeatureDictionary(n_features, spec_b.d_model, seed=seed + 1).feature_vectors.detach().numpy()

    rng = np.random.default_rng(seed + 2)
    linear_map = rng.standard_normal((spec_a.d_model, spec_b.d_model)) / np.sqrt(spec_a.d_model)
    image = dict_a[: syn.n_shared] @ linear_map
    image /= np.linalg.norm(image, axis=1).mean()  # one global scale keeps the map linear
    mixed = (1.0 - syn.geometry_noise) * image + syn.geometry_noise * dict_b[: syn.n_shared]
    dict_b = dict_b.copy()
    dict_b[: syn.n_shared] = mixed
    return {
        name_a: PlantedModel(dict_a.astype(np.float32), world_ids(syn, 0)),
        name_b: PlantedModel(dict_b.astype(np.float32), world_ids(syn, 1)),
    }


def planted_labels(decoder_rows: np.ndarray, model: PlantedModel, min_cosine: float = PLANTED_MIN_COSINE) -> np.ndarray:
    """World id recovered by each SAE feature (best |cosine| with a planted direction), or -1."""
    rows = decoder_rows / np.maximum(np.linalg.norm(decoder_rows, axis=1, keepdims=True), 1e-12)
    truth = model.feature_vectors / np.linalg.norm(model.feature_vectors, axis=1, keepdims=True)
    cosine = rows @ truth.T
    best = cosine.argmax(axis=1)
    labels = model.world_ids[best].astype(np.int64)
    labels[cosine[np.arange(len(best)), best] < min_cosine] = -1
    return labels


def planted_recovery(label_a: np.ndarray, label_b: np.ndarray, n_shared: int) -> dict:
    """How many pairs join two SAE features that recover the same shared planted feature.

    `label_a[i]`, `label_b[i]`: the world ids recovered by the two features of pair i (-1:
    none). Also counted: pairs whose features both recover some planted feature, and how many
    of those are correct (the wrong ones are real pairing errors; the remaining pairs involve
    SAE latents that match no planted direction).
    """
    correct = (label_a == label_b) & (label_a >= 0) & (label_a < n_shared)
    recovered = (label_a >= 0) & (label_b >= 0)
    return {
        "n": len(label_a),
        "correct": int(correct.sum()),
        "share_correct": float(correct.mean()) if len(label_a) else 0.0,
        "both_recovered": int(recovered.sum()),
        "correct_among_recovered": int((correct & recovered).sum()),
        "min_cosine": PLANTED_MIN_COSINE,
    }
