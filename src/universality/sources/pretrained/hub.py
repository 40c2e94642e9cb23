"""Everything read from the Hugging Face hub: documents, pretrained models and their SAEs.

When the hub cannot be reached and nothing is cached locally, the call stops with one clear
message: the pretrained experiments' expensive outputs are DVC-tracked, so a machine without
the hub (or without a GPU) fetches them with `dvc pull` instead of recomputing them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from huggingface_hub import hf_hub_download
from sae_lens import SAE
from sae_lens.loading.pretrained_sae_loaders import sparsify_disk_loader
from transformer_lens import HookedTransformer

from universality.errors import InputError

T = TypeVar("T")


class HubUnreachable(InputError):
    """A pretrained artifact is neither reachable on the hub nor cached locally."""


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]  # includes ConnectionError and transformers' OSError
    try:
        from huggingface_hub import errors as hf_errors

        errors += [hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled, hf_errors.HfHubHTTPError]
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        pass
    try:
        import httpx

        errors.append(httpx.TransportError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def hub_call(what: str, call: Callable[[], T]) -> T:
    """Run `call`; if it fails for want of the hub, raise HubUnreachable naming `what` and the fix."""
    try:
        return call()
    except _network_errors() as err:
        raise HubUnreachable(
            f"cannot load {what}: the Hugging Face hub is unreachable and it is not in the local cache "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Download it on a machine with "
            "hub access (`hf download NAME`) and copy that machine's Hugging Face cache into this one's (HF_HUB_CACHE, "
            "default ~/.cache/huggingface/hub), then rerun; no DVC remote holds pretrained models or their activations"
        ) from err


def hub_documents(dataset: str, split: str, n_documents: int) -> list[str]:
    """The first `n_documents` texts of a Hugging Face dataset, streamed (needs the hub)."""
    from datasets import load_dataset

    stream = hub_call(f"dataset {dataset}", lambda: load_dataset(dataset, split=split, streaming=True))
    texts = []
    for row in hub_call(f"dataset {dataset}", lambda: stream.take(n_documents)):
        texts.append(row["text"])
    return texts


def load_hub_model(model_name: str, device: str, checkpoint: int | None = None) -> HookedTransformer:
    """A pretrained model through TransformerLens (weights from the Hugging Face hub or its cache).

    Loaded without weight processing: TransformerLens' default centring of the writing
    weights shifts `hook_resid_post` by its mean, and the pretrained SAEs were trained on
    the original model's residual stream. `checkpoint` is a training step of a model with
    published checkpoints (Pythia's step 0 is its random initialisation); None loads the final weights.
    """
    what = f"model {model_name}" + ("" if checkpoint is None else f" at checkpoint {checkpoint}")
    model = hub_call(what, lambda: HookedTransformer.from_pretrained_no_processing(model_name, device=device, checkpoint_value=checkpoint))
    model.eval()
    return model


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


def _sparsify_hub_converter(
    repo_id: str, folder_name: str, device: str = "cpu", force_download: bool = False, cfg_overrides: dict | None = None
):
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
        return hub_call(
            f"SAE {release}/{sae_id}", lambda: SAE.from_pretrained(release, sae_id, device=device, converter=_sparsify_hub_converter)
        )
    if local.is_dir():
        return SAE.load_from_disk(local, device=device)
    return hub_call(f"SAE {release}/{sae_id}", lambda: SAE.from_pretrained(release, sae_id, device=device))
