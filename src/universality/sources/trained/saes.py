"""SAEs of the `trained` kind: a TopK SAE per layer, trained with SAELens on the training windows' activations."""

from __future__ import annotations

import logging
from pathlib import Path

from universality import layout
from universality.params.schema import Params
from universality.sources.language_models import load_language_model
from universality.sources.sae_files import save_sae
from universality.sources.trained.sae_training import train_lm_saes
from universality.token_sets import load_token_set, token_metadata

log = logging.getLogger(__name__)


def build(name: str, params: Params, out: Path) -> None:
    """Train one SAE per layer of source `name` (layer L with seed `sae.seed + L`), all layers in one pass of the model."""
    source = params.sources[name]
    tokens = layout.tokens(source.tokens)
    (windows, counted), meta = load_token_set(tokens).training_windows(), token_metadata(tokens)
    model, _ = load_language_model(params, source.model)
    hooks = {layer: params.hook_name(layer) for layer in params.layers(name)}
    log.info(
        "training SAEs of %s on %s: d_sae %d, k %d, %d tokens",
        name, ", ".join(hooks.values()), source.sae.d_sae, source.sae.k, source.sae.training.training_tokens,
    )  # fmt: skip
    special_ids = [int(meta["bos_id"]), int(meta["pad_id"])]
    saes = train_lm_saes(model, hooks, windows, counted, source.sae, params.extract.batch_windows, special_ids)
    for layer, sae in saes.items():
        save_sae(sae, out / layout.sae_folder(layer))
