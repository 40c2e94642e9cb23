"""Toy SAEs: a TopK SAE per layer, trained with SAELens' language-model training runner."""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset
from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner, LoggingConfig, TopKTrainingSAE, TopKTrainingSAEConfig
from transformer_lens import HookedTransformer

from universality.params.schema import TrainedSAE


def train_lm_sae(
    model: HookedTransformer, hook_name: str, windows: np.ndarray, spec: TrainedSAE, special_ids: list[int], seed: int
) -> TopKTrainingSAE:
    """Train a TopK SAE on `hook_name` of `model` with SAELens' language-model training runner.

    The model and the pretokenized windows are passed in (no hub); BOS and padding positions
    are excluded from training, as from every analysis; no wandb, no checkpoints. The runner
    draws its initialisation and shuffling from torch's global RNG (not from `config.seed`),
    so that RNG is seeded here. A latent that has not fired for `dead_window` steps counts as
    dead and is trained by TopK's auxiliary loss (SAELens' default window, 1,000 steps, is as
    long as a whole toy run, which would leave that loss off).
    """
    context_length = windows.shape[1]
    config = LanguageModelSAERunnerConfig(
        sae=TopKTrainingSAEConfig(d_in=model.cfg.d_model, d_sae=spec.d_sae, k=spec.k, device="cpu"),
        model_name="toy",
        hook_name=hook_name,
        dataset_path="local",
        is_dataset_tokenized=True,
        streaming=False,
        context_size=context_length,
        prepend_bos=False,
        exclude_special_tokens=special_ids,
        training_tokens=spec.training.training_tokens,
        train_batch_size_tokens=spec.training.batch_size,
        store_batch_size_prompts=spec.training.store_batch_windows,
        n_batches_in_buffer=spec.training.buffer_batches,
        dead_feature_window=spec.training.dead_window,  # latents silent this many steps feed the AuxK loss
        lr=spec.training.lr,
        model_from_pretrained_kwargs={},  # the model is passed in, not loaded
        device="cpu",
        seed=seed,
        logger=LoggingConfig(log_to_wandb=False),
        n_checkpoints=0,
        checkpoint_path=None,
        output_path=None,
        verbose=False,
    )
    dataset = Dataset.from_dict({"input_ids": windows.astype(np.int64).tolist()})
    torch.manual_seed(seed)
    return LanguageModelSAETrainingRunner(config, override_dataset=dataset, override_model=model).run()
