"""The hook check: is each SAE fed the layer it was trained on?

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


class HookMismatch(RuntimeError):
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
    model, saes: dict[int, SAE], hook_template: str, windows: np.ndarray, mask: np.ndarray, batch_windows: int, device: str,
    *, max_fvu: float,
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
