"""Toy SAEs: a TopK SAE per layer, all layers of a model trained by SAELens from one pass of it.

`activation_store: memory` (the toys): the model runs once over the training windows and keeps
every analysed layer's activations at the counted positions (BOS and padding excluded) in
memory, `training_tokens x d_model x 4` bytes per layer; SAELens' trainer then trains each
layer's SAE from seeded shuffles of them. `stream` (models whose activations do not fit):
SAELens' multi-SAE runner runs the model batch by batch and hands each layer's activations to
that layer's SAE through its shuffling buffer. Either way a model with L analysed layers pays
one pass over its training tokens, not L.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
import torch
from datasets import Dataset
from sae_lens import LoggingConfig, MultiSAETrainingRunner, MultiSAETrainingRunnerConfig, TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.config import SAETrainerConfig
from sae_lens.training.sae_trainer import SAETrainer
from tqdm import tqdm
from transformer_lens import HookedTransformer

from universality.activations.hooks import hook_activations
from universality.params.schema import TrainedSAE

log = logging.getLogger(__name__)
BUFFER_BATCHES = 32  # stream: the runner's shuffling buffer holds at least this many training batches


def counted_activations(
    model: HookedTransformer, hooks: dict[int, str], windows: np.ndarray, counted: np.ndarray, batch_windows: int, n_tokens: int
) -> dict[int, torch.Tensor]:
    """Each layer's activations (tokens x d_model) at the counted positions of the first windows that hold `n_tokens`
    of them (all windows if they hold fewer), in window order, from one pass of the model."""
    n_windows = min(len(windows), int(np.searchsorted(np.cumsum(counted.sum(axis=1)), n_tokens)) + 1)
    rows: dict[int, list[torch.Tensor]] = {layer: [] for layer in hooks}
    for start in tqdm(range(0, n_windows, batch_windows), desc="activations for SAE training", unit="batch"):
        stop = min(start + batch_windows, n_windows)
        found = hook_activations(model, torch.from_numpy(windows[start:stop].astype(np.int64)), list(hooks.values()))
        keep = torch.from_numpy(counted[start:stop])
        for layer, hook in hooks.items():
            rows[layer].append(found[hook][keep].float())
    return {layer: torch.cat(parts)[:n_tokens] for layer, parts in rows.items()}


def shuffled_batches(activations: torch.Tensor, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless batches of `batch_size` rows; each pass over the rows takes them in a new order drawn from `seed`."""
    if len(activations) < batch_size:
        raise ValueError(f"{len(activations)} training activations cannot fill a batch of {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(activations), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield activations[order[start : start + batch_size]]


def initial_saes(d_model: int, layers: list[int], spec: TrainedSAE) -> dict[int, TopKTrainingSAE]:
    """An untrained TopK SAE per layer, layer L's drawn from torch's RNG seeded with `spec.seed + L`."""
    saes = {}
    for layer in layers:
        torch.manual_seed(spec.seed + layer)
        saes[layer] = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_model, d_sae=spec.d_sae, k=spec.k, device="cpu"))
    return saes


def train_lm_saes(
    model: HookedTransformer,
    hooks: dict[int, str],
    windows: np.ndarray,
    counted: np.ndarray,
    spec: TrainedSAE,
    batch_windows: int,
    special_ids: list[int],
) -> dict[int, TopKTrainingSAE]:
    """Train one TopK SAE per layer of `hooks` (layer -> hook name) on `model`'s activations at the counted positions.

    The model and the pretokenized windows are passed in (no hub); no wandb, no checkpoints;
    batches are shuffled with `spec.seed`. A latent that has not fired for `dead_window` steps
    counts as dead and is trained by TopK's auxiliary loss (SAELens' default window, 1,000
    steps, is longer than a toy run, which would leave that loss off). The learning rate decays
    linearly to a tenth over the last `lr_decay_fraction` of the steps.
    """
    saes = initial_saes(model.cfg.d_model, list(hooks), spec)
    training = spec.training
    decay_steps = int(training.training_tokens // training.batch_size * training.lr_decay_fraction)
    if training.activation_store == "stream":
        return _train_streaming(model, hooks, windows, saes, spec, batch_windows, special_ids, decay_steps)
    activations = counted_activations(model, hooks, windows, counted, batch_windows, training.training_tokens)
    config = SAETrainerConfig(
        total_training_samples=training.training_tokens,
        train_batch_size_samples=training.batch_size,
        lr=training.lr,
        lr_end=training.lr / 10,
        lr_decay_steps=decay_steps,
        dead_feature_window=training.dead_window,
        device="cpu",
        logger=LoggingConfig(log_to_wandb=False),
    )
    for layer, hook in hooks.items():
        log.info("training the SAE on %s from %d activations", hook, len(activations[layer]))
        saes[layer] = SAETrainer(config, saes[layer], shuffled_batches(activations[layer], training.batch_size, spec.seed)).fit()
    return saes


def _train_streaming(
    model: HookedTransformer,
    hooks: dict[int, str],
    windows: np.ndarray,
    saes: dict[int, TopKTrainingSAE],
    spec: TrainedSAE,
    batch_windows: int,
    special_ids: list[int],
    decay_steps: int,
) -> dict[int, TopKTrainingSAE]:
    """SAELens' multi-SAE runner: each batch of windows runs the model once for every layer's SAE."""
    training, context = spec.training, windows.shape[1]
    config = MultiSAETrainingRunnerConfig(
        saes={str(layer): sae.cfg for layer, sae in saes.items()},
        hook_names={str(layer): hook for layer, hook in hooks.items()},
        model_name="toy",
        dataset_path="local",
        streaming=False,
        context_size=context,
        prepend_bos=False,
        exclude_special_tokens=special_ids,
        training_tokens=training.training_tokens,
        train_batch_size_tokens=training.batch_size,
        store_batch_size_prompts=batch_windows,
        n_batches_in_buffer=max(2, math.ceil(BUFFER_BATCHES * training.batch_size / (batch_windows * context))),
        dead_feature_window=training.dead_window,
        lr=training.lr,
        lr_decay_steps=decay_steps,
        model_from_pretrained_kwargs={},  # the model is passed in, not loaded
        device="cpu",
        seed=spec.seed,
        logger=LoggingConfig(log_to_wandb=False),
        n_checkpoints=0,
        checkpoint_path=None,
        output_path=None,
        n_eval_batches=0,
    )
    dataset = Dataset.from_dict({"input_ids": windows.astype(np.int64).tolist()})
    torch.manual_seed(spec.seed)
    trained = MultiSAETrainingRunner(
        config, override_dataset=dataset, override_model=model, override_saes={str(layer): sae for layer, sae in saes.items()}
    ).run()
    return {layer: trained[str(layer)] for layer in hooks}  # type: ignore[misc]
