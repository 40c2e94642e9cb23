"""Model of the `trained` kind: a TransformerLens transformer trained on the training windows."""

from __future__ import annotations

import logging
from pathlib import Path

from transformer_lens import HookedTransformer

from universality import layout
from universality.params.schema import Params
from universality.sources.trained.language_model import language_model_loss, save_toy_model, toy_config, train_toy_model
from universality.token_sets import load_token_set, token_metadata

log = logging.getLogger(__name__)


def build(name: str, params: Params, out: Path) -> dict:
    """Train model `name` (or keep its seeded initialisation); return its held-out loss and parameter count."""
    spec = params.models[name]
    tokens = layout.tokens(spec.tokens)
    token_set, meta = load_token_set(tokens), token_metadata(tokens)
    config = toy_config(spec, int(meta["vocab_size"]), token_set.windows.shape[1])
    if spec.training is None:
        log.info("%s: %d layers, d_model %d, random initialisation (seed %d), never trained", name, spec.n_layers, spec.d_model, spec.seed)
        model = HookedTransformer(config)
    else:
        log.info(
            "training %s: %d layers, d_model %d, on %d windows", name, spec.n_layers, spec.d_model, len(token_set.training_windows()[0])
        )
        model = train_toy_model(config, token_set.training_windows()[0], spec.training)
    loss = language_model_loss(model, token_set.analysis_windows()[0], int(meta["pad_id"]))
    log.info("%s: held-out loss %.3f nats per token", name, loss)
    save_toy_model(model, out)
    return {"loss": loss, "parameters": sum(p.numel() for p in model.parameters())}
