"""Toy SAEs: a TopK SAE per layer, all layers of a model trained together by SAELens.

SAELens' multi-SAE runner runs the language model once per batch of windows and hands each
layer's activations to that layer's SAE, so a model with L analysed layers pays one pass of
the model over the training tokens, not L (SAELens' single-SAE runner runs it per SAE).
"""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset
from sae_lens import LoggingConfig, MultiSAETrainingRunner, MultiSAETrainingRunnerConfig, TopKTrainingSAE, TopKTrainingSAEConfig
from transformer_lens import HookedTransformer

from universality.params.schema import TrainedSAE


def train_lm_saes(
    model: HookedTransformer, hooks: dict[int, str], windows: np.ndarray, spec: TrainedSAE, special_ids: list[int]
) -> dict[int, TopKTrainingSAE]:
    """Train one TopK SAE per layer of `hooks` (layer -> hook name) on `model`, from one shared pass.

    The model and the pretokenized windows are passed in (no hub); BOS and padding positions
    are excluded from training, as from every analysis; no wandb, no checkpoints. Layer L's SAE
    is initialised from torch's RNG seeded with `spec.seed + L`; the runner's shuffling draws
    from it seeded with `spec.seed`. A latent that has not fired for `dead_window` steps counts
    as dead and is trained by TopK's auxiliary loss (SAELens' default window, 1,000 steps, is
    longer than a toy run, which would leave that loss off). The learning rate decays linearly
    to a tenth over the last `lr_decay_fraction` of the steps.
    """
    training = spec.training
    configs, saes = {}, {}
    for layer in hooks:
        configs[str(layer)] = TopKTrainingSAEConfig(d_in=model.cfg.d_model, d_sae=spec.d_sae, k=spec.k, device="cpu")
        torch.manual_seed(spec.seed + layer)
        saes[str(layer)] = TopKTrainingSAE(configs[str(layer)])
    steps = training.training_tokens // training.batch_size
    config = MultiSAETrainingRunnerConfig(
        saes=configs,
        hook_names={str(layer): hook for layer, hook in hooks.items()},
        model_name="toy",
        dataset_path="local",
        streaming=False,
        context_size=windows.shape[1],
        prepend_bos=False,
        exclude_special_tokens=special_ids,
        training_tokens=training.training_tokens,
        train_batch_size_tokens=training.batch_size,
        store_batch_size_prompts=training.store_batch_windows,
        n_batches_in_buffer=training.buffer_batches,
        dead_feature_window=training.dead_window,
        lr=training.lr,
        lr_decay_steps=int(steps * training.lr_decay_fraction),
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
    trained = MultiSAETrainingRunner(config, override_dataset=dataset, override_model=model, override_saes=saes).run()
    return {layer: trained[str(layer)] for layer in hooks}  # type: ignore[misc]
