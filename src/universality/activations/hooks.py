"""The checks before extraction: does each SAE fit the model, and is it fed the layer it was trained on?

`check_saes` runs first and computes nothing: each SAE's layer must exist in the model, its
input width must be the model's d_model and its weights must be finite.

Each SAE's fraction of variance unexplained (FVU) on its configured hook is compared with
that on the neighbouring blocks' outputs (L-1 and L+1, where they exist); an SAE that
reconstructs a neighbour better was trained on another hook, and one whose FVU exceeds
`extract.hook_check_max_fvu` does not fit its hook. Either stops the extraction.
"""

from __future__ import annotations

import numpy as np
import torch
from sae_lens import SAE

from universality.activations.quality import QualityAccumulator
from universality.errors import InputError


def check_sae_weights(sae: SAE, where: str, source: str) -> None:
    """Refuse an SAE with NaN or infinite weights, naming the tensor and how many rows it hits."""
    for name, tensor in sae.named_parameters():
        finite = torch.isfinite(tensor)
        if not finite.all():
            rows = int((~finite).reshape(len(tensor), -1).any(dim=1).sum()) if tensor.ndim else 1
            raise InputError(f"{where}: the SAE's {name} holds NaN or infinite values ({rows} of {len(tensor) if tensor.ndim else 1} rows); "
                             f"retrain it with `dvc repro -s --force saes@{source}` or fetch a good copy with `dvc pull --force saes@{source}`")  # fmt: skip


def check_saes(model, saes: dict[int, SAE], where: dict[int, str], source: str) -> None:
    """Before any compute: each SAE's layer exists in `model`, reads d_model wide inputs and has finite weights."""
    n_layers, d_model = model.cfg.n_layers, model.cfg.d_model
    for layer, sae in saes.items():
        if not 0 <= layer < n_layers:
            raise InputError(f"source {source}: layer {layer} is out of range, the model has {n_layers} layers (0..{n_layers - 1}); "
                             "fix the model's `layers` in params.yaml")  # fmt: skip
        if sae.cfg.d_in != d_model:
            raise InputError(f"{where[layer]}: the SAE reads {sae.cfg.d_in}-wide inputs but the model's d_model is {d_model}, so it belongs "
                             f"to another model; check sources.{source} in params.yaml, then `dvc repro saes@{source}`")  # fmt: skip
        check_sae_weights(sae, where[layer], source)


class HookMismatch(InputError):
    """An SAE reconstructs a neighbouring block's output better than its configured hook."""


class HookFVUTooHigh(HookMismatch):
    """An SAE's FVU on its configured hook exceeds extract.hook_check_max_fvu."""


def neighbour_hooks(hook_template: str, layer: int, n_layers: int) -> list[str]:
    """The hooks of the neighbouring blocks that exist: L-1 and L+1."""
    return [hook_template.format(layer=other) for other in (layer - 1, layer + 1) if 0 <= other < n_layers]


@torch.no_grad()
def hook_activations(model, tokens: torch.Tensor, hook_names: list[str]) -> dict[str, torch.Tensor]:
    """Activations at `hook_names` (batch x pos x d_model), stopping the forward pass early."""
    last_block = max(int(name.split(".")[1]) for name in hook_names if name.startswith("blocks."))
    _, cache = model.run_with_cache(tokens, names_filter=hook_names, stop_at_layer=last_block + 1)
    return {name: cache[name] for name in hook_names}


@torch.no_grad()
def check_hooks(
    model,
    saes: dict[int, SAE],
    hook_template: str,
    windows: np.ndarray,
    mask: np.ndarray,
    batch_windows: int,
    device: str,
    *,
    max_fvu: float,
) -> dict[int, dict]:
    """Each SAE's FVU on its configured hook and on the neighbouring blocks' outputs.

    Raises HookMismatch when a neighbour is reconstructed better (the SAE was trained on a
    different hook), then HookFVUTooHigh when a configured hook's FVU exceeds `max_fvu`.
    """
    n_layers = model.cfg.n_layers
    if n_layers < 2:
        raise ValueError("the hook check needs a model with at least two blocks")
    hooks = {layer: [hook_template.format(layer=layer), *neighbour_hooks(hook_template, layer, n_layers)] for layer in saes}
    accumulators = {(layer, name): QualityAccumulator() for layer in saes for name in hooks[layer]}
    names = sorted({name for layer_hooks in hooks.values() for name in layer_hooks})
    for start in range(0, len(windows), batch_windows):
        tokens = torch.from_numpy(windows[start : start + batch_windows].astype(np.int64)).to(device)
        keep = torch.from_numpy(mask[start : start + batch_windows]).to(device)
        activations = hook_activations(model, tokens, names)
        for layer, sae in saes.items():
            for name in hooks[layer]:
                x = activations[name][keep].to(sae.dtype)
                codes = sae.encode(x)
                accumulators[layer, name].add(x, sae.decode(codes), codes)
    report = {}
    for layer in saes:
        configured, *neighbours = hooks[layer]
        fvu = {name: accumulators[layer, name].metrics()["fvu"] for name in neighbours}
        report[layer] = {"hook": configured, "fvu": accumulators[layer, configured].metrics()["fvu"], "max_fvu": max_fvu, "neighbours": fvu}
    for layer, entry in report.items():  # a wrong hook also explains a high FVU: report it first
        best = min(entry["neighbours"], key=entry["neighbours"].get)
        if entry["neighbours"][best] < entry["fvu"]:
            raise HookMismatch(
                f"the SAE for layer {layer} reconstructs {best} better (FVU {entry['neighbours'][best]:.4f}) than the configured "
                f"hook {entry['hook']} (FVU {entry['fvu']:.4f}): it was trained on a different hook. Check extract.hook in "
                "params.yaml and the layer numbering of the SAE (SAE layer L reads the output of block L)"
            )
    for layer, entry in report.items():
        if entry["fvu"] > max_fvu:
            raise HookFVUTooHigh(
                f"the SAE for layer {layer} leaves FVU {entry['fvu']:.4f} of its configured hook {entry['hook']} unexplained, above "
                f"extract.hook_check_max_fvu = {max_fvu} in params.yaml: it does not fit that hook. Check extract.hook and the "
                "SAE, or raise extract.hook_check_max_fvu if an FVU this high is expected"
            )
    return report
