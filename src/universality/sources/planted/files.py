"""The planted kind's files: the world (in the token-set directory) and a source's dictionary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from universality import io, layout
from universality.errors import InputError
from universality.sources.planted.world import PlantedDictionary

WORLD_FILE = "world.safetensors"
DICTIONARY_FILE = "dictionary.safetensors"


def load_world(token_set: str) -> dict[str, np.ndarray]:
    """The tensors of planted world (token set) `token_set`."""
    path = layout.tokens(token_set) / WORLD_FILE
    tensors = io.read_tensors(path)
    if "latent_indptr" not in tensors:
        raise InputError(f"{path} is not a planted world: rebuild it with `dvc repro`")
    return tensors


def world_latents(tensors: dict[str, np.ndarray]) -> sp.csr_matrix:
    """The world's latent activations (tokens x world features) as CSR."""
    shape = (len(tensors["mask"]), len(tensors["firing_probabilities"]))
    return sp.csr_matrix((tensors["latent_values"], tensors["latent_indices"], tensors["latent_indptr"]), shape=shape)


def save_dictionary(directory: Path, dictionary: PlantedDictionary) -> None:
    io.write_tensors(directory / DICTIONARY_FILE, {"feature_vectors": dictionary.feature_vectors, "world_ids": dictionary.world_ids})


def load_dictionary(model: str) -> PlantedDictionary:
    tensors = io.read_tensors(layout.model(model) / DICTIONARY_FILE)
    return PlantedDictionary(feature_vectors=tensors["feature_vectors"], world_ids=tensors["world_ids"])
