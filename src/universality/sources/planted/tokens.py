"""Token set of the `planted` kind: the world's latents, firing probabilities and shared directions."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from universality import io
from universality.params.schema import Params
from universality.sources.planted.files import WORLD_FILE
from universality.sources.planted.world import firing_probabilities, sample_latents, shared_feature_directions

log = logging.getLogger(__name__)


def build(name: str, params: Params, out: Path) -> None:
    world = params.token_sets[name]
    probabilities = firing_probabilities(world, world.seed)
    latents = sample_latents(world, probabilities, world.n_tokens, seed=world.seed)
    mask = np.ones(world.n_tokens, dtype=np.uint8)
    token_hash = io.sha256_arrays(latents.indptr, latents.indices, latents.data, mask)
    log.info(
        "planted world: %d tokens, %.2f latent features per token, hash %s", world.n_tokens, latents.nnz / world.n_tokens, token_hash[:12]
    )
    tensors = {
        "latent_indptr": latents.indptr.astype(np.int64),
        "latent_indices": latents.indices.astype(np.int32),
        "latent_values": latents.data,
        "firing_probabilities": probabilities,
        "shared_directions": shared_feature_directions(world),
        "mask": mask,
    }
    io.write_tensors(out / WORLD_FILE, tensors, metadata={"token_hash": token_hash, "token_set": name})
