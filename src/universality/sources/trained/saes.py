"""SAEs of the `trained` kind: a TopK SAE per layer, trained with SAELens on the training windows."""

from __future__ import annotations

import logging
from pathlib import Path

from universality import layout
from universality.params.schema import Params
from universality.sources.language_models import load_language_model
from universality.sources.sae_files import save_sae
from universality.sources.trained.sae_training import train_lm_sae
from universality.token_sets import load_token_set, token_metadata

log = logging.getLogger(__name__)


def build(name: str, params: Params, out: Path) -> None:
    """Train one SAE per layer of source `name`, layer L with seed `sae.seed + L`."""
    source = params.sources[name]
    tokens = layout.tokens(source.tokens)
    training_windows, meta = load_token_set(tokens).training_windows(), token_metadata(tokens)
    model, _ = load_language_model(params, source.model)
    special = [int(meta["bos_id"]), int(meta["pad_id"])]
    for layer in params.layers(name):
        log.info("training SAE %s L%d on %s: d_sae %d, k %d", name, layer, params.hook_name(layer), source.sae.d_sae, source.sae.k)
        sae = train_lm_sae(model, params.hook_name(layer), training_windows, source.sae, special, source.sae.seed + layer)
        save_sae(sae, out / layout.sae_folder(layer))
