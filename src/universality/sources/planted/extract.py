"""Activations of the `planted` kind: SAE codes of the world's tokens, and what each feature recovers."""

from __future__ import annotations

import logging
from pathlib import Path

from universality import io, layout
from universality.activations.cache import ActivationCache, cache_meta, save_cache
from universality.activations.extract import FINGERPRINT_FILE, encode
from universality.activations.ground_truth import planted_labels
from universality.activations.hooks import check_sae_weights
from universality.params.schema import Params
from universality.sources.planted.files import load_dictionary, load_world, world_latents
from universality.sources.sae_files import load_sae

log = logging.getLogger(__name__)

ENCODE_BATCH = 4096


def build(name: str, params: Params, out: Path) -> dict:
    tensors = load_world(params.sources[name].tokens)
    mask = tensors["mask"].astype(bool)
    token_hash = io.sha256_arrays(tensors["latent_indptr"], tensors["latent_indices"], tensors["latent_values"], tensors["mask"])
    dictionary = load_dictionary(params.sources[name].model)
    activations = dictionary.activations(world_latents(tensors)[mask])
    sae = load_sae(layout.sae(name, 0))
    check_sae_weights(sae, str(layout.sae(name, 0)), name)
    codes, quality = encode(sae, activations, ENCODE_BATCH, desc=f"extract {name}")
    log.info("%s: FVU %.4f, L0 %.2f, dead %.3f", name, quality["fvu"], quality["l0"], quality["dead_fraction"])
    W_dec = sae.W_dec.detach().numpy()
    meta = cache_meta(name, 0, "planted_activations", str(layout.sae(name, 0)), token_hash, codes, activations.shape[1], quality, "cpu")
    cache = ActivationCache(
        codes=codes, W_dec=W_dec, meta=meta, world_ids=planted_labels(W_dec, dictionary.feature_vectors, dictionary.world_ids)
    )
    save_cache(out / layout.cache_file(0), cache)
    # one pass, no checkpoints; the fingerprint keeps the (declared) scratch folder in git
    io.write_json(
        layout.extract_scratch(name) / FINGERPRINT_FILE, {"token_hash": token_hash, "sae": str(layout.sae(name, 0)), "checkpoints": False}
    )
    return {"L0": quality}
