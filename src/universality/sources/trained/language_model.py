"""The toy transformers trained here.

Toy models are TransformerLens `HookedTransformer`s built from a config in params.yaml and
trained with TransformerLens' own training loop; they are saved as a safetensors state dict
beside their config as JSON.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.train import HookedTransformerTrainConfig, train

from universality import io
from universality.params.schema import LMTraining, TrainedModel

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def toy_config(spec: TrainedModel, d_vocab: int, n_ctx: int) -> HookedTransformerConfig:
    return HookedTransformerConfig(
        n_layers=spec.n_layers,
        d_model=spec.d_model,
        n_heads=spec.n_heads,
        d_head=spec.d_model // spec.n_heads,
        d_mlp=spec.d_mlp,
        d_vocab=d_vocab,
        n_ctx=n_ctx,
        act_fn="gelu",
        normalization_type="LN",
        positional_embedding_type="standard",
        seed=spec.seed,
        device="cpu",
    )


def train_toy_model(config: HookedTransformerConfig, windows: np.ndarray, training: LMTraining) -> HookedTransformer:
    """Initialise a transformer from `config` (seeded) and train it on `windows` with TransformerLens."""
    assert config.seed is not None, "a toy model's config is seeded (toy_config)"
    model = HookedTransformer(config)
    dataset = Dataset.from_dict({"tokens": windows.astype(np.int64)}).with_format("torch")
    train_config = HookedTransformerTrainConfig(
        num_epochs=training.epochs,
        batch_size=training.batch_size,
        lr=training.lr,
        seed=config.seed,
        optimizer_name="AdamW",
        weight_decay=training.weight_decay,
        warmup_steps=training.warmup_steps,
        max_grad_norm=1.0,
        device="cpu",
        print_every=None,
        max_steps=training.max_steps,
    )
    return train(model, train_config, dataset)


@torch.no_grad()
def language_model_loss(model: HookedTransformer, windows: np.ndarray, pad_id: int, batch_windows: int = 64) -> float:
    """Mean next-token cross-entropy (nats) over the windows, padding excluded."""
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_windows):
        tokens = torch.from_numpy(windows[start : start + batch_windows].astype(np.int64))
        keep = tokens != pad_id
        per_token = model(tokens, return_type="loss", loss_per_token=True, attention_mask=keep)
        counted = keep[:, :-1] & keep[:, 1:]
        total += float(per_token[counted].sum())
        count += int(counted.sum())
    return total / count


def save_toy_model(model: HookedTransformer, directory: str | Path) -> None:
    directory = Path(directory)
    config = model.cfg.to_dict()
    keys = ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx", "act_fn", "normalization_type",
            "positional_embedding_type", "seed")  # fmt: skip
    io.write_json(directory / CONFIG_FILE, {key: config[key] for key in keys})
    with io.atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))


def load_toy_model(directory: str | Path, device: str = "cpu") -> HookedTransformer:
    directory = Path(directory)
    io.require(directory / WEIGHTS_FILE)
    config = HookedTransformerConfig(**json.loads((directory / CONFIG_FILE).read_text()), device=device)
    model = HookedTransformer(config)
    model.load_state_dict(load_file(str(directory / WEIGHTS_FILE), device=device))
    model.eval()
    return model
