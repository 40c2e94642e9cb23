"""Sparse autoencoders: training with SAELens and loading from disk."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from huggingface_hub import hf_hub_download
from sae_lens import (
    SAE,
    LanguageModelSAERunnerConfig,
    LanguageModelSAETrainingRunner,
    LoggingConfig,
    TopKTrainingSAE,
    TopKTrainingSAEConfig,
    TrainingSAE,
)
from transformer_lens import HookedTransformer
from sae_lens.loading.pretrained_sae_loaders import sparsify_disk_loader
from sae_lens.synthetic import train_toy_sae

from universality.hub import hub_call
from universality.params import LMSAETraining, ToySAE

from universality.io import dumps_json
from universality.params import SAETraining, Synthetic, SyntheticModel
from universality.synthetic import PlantedModel, activation_generator


def train_planted_sae(
    model: PlantedModel,
    spec: SyntheticModel,
    syn: Synthetic,
    world_probabilities: np.ndarray,
    training: SAETraining,
    seed: int,
) -> TopKTrainingSAE:
    """Train a TopK SAE with SAELens on an endless stream of the planted model's activations."""
    torch.manual_seed(seed)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=spec.d_model, d_sae=spec.d_sae, k=spec.k, device="cpu"))
    generator = activation_generator(syn, world_probabilities[model.world_ids])
    train_toy_sae(
        sae,
        model.feature_dictionary(),
        generator,
        training_samples=training.training_samples,
        batch_size=training.batch_size,
        lr=training.lr,
    )
    return sae


def train_lm_sae(
    model: HookedTransformer, hook_name: str, windows: np.ndarray, spec: ToySAE, training: LMSAETraining, special_ids: list[int], seed: int
) -> TopKTrainingSAE:
    """Train a TopK SAE on `hook_name` of `model` with SAELens' language-model training runner.

    The model and the pretokenized windows are passed in (no hub); BOS and padding positions
    are excluded from training, as from every analysis; no wandb, no checkpoints. The runner
    draws its initialisation and shuffling from torch's global RNG (not from `config.seed`),
    so that RNG is seeded here.
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
        training_tokens=training.training_tokens,
        train_batch_size_tokens=training.batch_size,
        store_batch_size_prompts=training.store_batch_windows,
        n_batches_in_buffer=training.buffer_batches,
        lr=training.lr,
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


def save_sae(sae: SAE, directory: str | Path) -> None:
    """Save the inference form of `sae` into `directory`, replacing it only once complete."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        save = sae.save_inference_model if isinstance(sae, TrainingSAE) else sae.save_model
        save(staging)
        config = staging / "cfg.json"  # SAELens writes its keys in varying order: sort them
        config.write_text(dumps_json(json.loads(config.read_text())))
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_sae(directory: str | Path, device: str = "cpu") -> SAE:
    directory = Path(directory)
    if not (directory / "cfg.json").exists():
        raise FileNotFoundError(f"no SAE in {directory}: rebuild it with `dvc repro saes`")
    return SAE.load_from_disk(directory, device=device)


def sparsify_converter(path: str | Path, device: str = "cpu", cfg_overrides: dict | None = None) -> tuple[dict, dict]:
    """SAELens' sparsify disk loader with two corrections for EleutherAI's files.

    sae_lens 6.54 transposes sparsify's `W_dec`, which is already (num_latents, d_in) like
    SAELens', and sets `apply_b_dec_to_input` from `normalize_decoder`, whereas sparsify's
    encoder always subtracts `b_dec` first. Without these the SAE does not load (shape
    mismatch) or encodes different latents.
    """
    cfg, state = sparsify_disk_loader(path, device=device, cfg_overrides={"dtype": "float32", **(cfg_overrides or {})})
    if state["W_dec"].shape == (cfg["d_in"], cfg["d_sae"]):
        state["W_dec"] = state["W_dec"].T.contiguous()
    cfg["apply_b_dec_to_input"] = True
    return cfg, state


def _sparsify_hub_converter(repo_id: str, folder_name: str, device: str = "cpu", force_download: bool = False, cfg_overrides: dict | None = None):
    hf_hub_download(repo_id, f"{folder_name}/cfg.json", force_download=force_download)
    weights = hf_hub_download(repo_id, f"{folder_name}/sae.safetensors", force_download=force_download)
    cfg, state = sparsify_converter(Path(weights).parent, device=device, cfg_overrides=cfg_overrides)
    return cfg, state, None


def load_pretrained_sae(loader: str, release: str, sae_id: str, device: str = "cpu") -> SAE:
    """A pretrained SAE: a SAELens release, or a sparsify repository (EleutherAI's SAEs).

    `release` may also be a local directory holding `sae_id` as a subdirectory, which loads
    the same way without the hub.
    """
    local = Path(release) / sae_id
    if loader == "sparsify":
        if local.is_dir():
            return SAE.load_from_disk(local, device=device, converter=sparsify_converter)
        return hub_call(f"SAE {release}/{sae_id}", lambda: SAE.from_pretrained(release, sae_id, device=device, converter=_sparsify_hub_converter))
    if local.is_dir():
        return SAE.load_from_disk(local, device=device)
    return hub_call(f"SAE {release}/{sae_id}", lambda: SAE.from_pretrained(release, sae_id, device=device))
