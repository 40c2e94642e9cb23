"""The hook check: is each SAE fed the layer it was trained on?

Each SAE's fraction of variance unexplained on its configured hook is compared with that on
the neighbouring block's output; an SAE that reconstructs the neighbour better was trained on
another hook, and the check stops the extraction.
"""

from __future__ import annotations

import numpy as np
import torch
from sae_lens import SAE

from universality.activations.quality import QualityAccumulator


class HookMismatch(RuntimeError):
    """An SAE reconstructs a neighbouring block's output better than its configured hook."""


def neighbour_hook(hook_template: str, layer: int) -> str:
    """The hook of the neighbouring block: block L-1's (block 1's for layer 0)."""
    return hook_template.format(layer=layer - 1 if layer > 0 else layer + 1)


@torch.no_grad()
def hook_activations(model, tokens: torch.Tensor, hook_names: list[str]) -> dict[str, torch.Tensor]:
    """Activations at `hook_names` (batch x pos x d_model), stopping the forward pass early."""
    last_block = max(int(name.split(".")[1]) for name in hook_names if name.startswith("blocks."))
    _, cache = model.run_with_cache(tokens, names_filter=hook_names, stop_at_layer=last_block + 1)
    return {name: cache[name] for name in hook_names}


@torch.no_grad()
def check_hooks(
    model, saes: dict[int, SAE], hook_template: str, windows: np.ndarray, mask: np.ndarray, batch_windows: int, device: str
) -> dict[int, dict[str, float | str]]:
    """Each SAE's FVU on its configured hook and on the neighbouring block's output.

    Raises HookMismatch when the neighbour is reconstructed better: the SAE was trained
    on a different hook than the one configured.
    """
    n_layers = model.cfg.n_layers
    hooks = {layer: (hook_template.format(layer=layer), neighbour_hook(hook_template, layer)) for layer in saes}
    if n_layers < 2:
        raise ValueError("the hook check needs a model with at least two blocks")
    accumulators = {(layer, which): QualityAccumulator() for layer in saes for which in (0, 1)}
    names = sorted({name for pair in hooks.values() for name in pair})
    for start in range(0, len(windows), batch_windows):
        tokens = torch.from_numpy(windows[start : start + batch_windows].astype(np.int64)).to(device)
        keep = torch.from_numpy(mask[start : start + batch_windows]).to(device)
        activations = hook_activations(model, tokens, names)
        for layer, sae in saes.items():
            for which, name in enumerate(hooks[layer]):
                x = activations[name][keep].to(sae.dtype)
                codes = sae.encode(x)
                accumulators[layer, which].add(x, sae.decode(codes), codes)
    report = {}
    for layer in saes:
        configured, neighbour = (accumulators[layer, which].metrics()["fvu"] for which in (0, 1))
        report[layer] = {"hook": hooks[layer][0], "fvu": configured, "neighbour_hook": hooks[layer][1], "neighbour_fvu": neighbour}
        if neighbour < configured:
            raise HookMismatch(
                f"the SAE for layer {layer} reconstructs {hooks[layer][1]} better (FVU {neighbour:.4f}) than the configured "
                f"hook {hooks[layer][0]} (FVU {configured:.4f}): it was trained on a different hook. Check extract.hook in "
                "params.yaml and the layer numbering of the SAE (SAE layer L reads the output of block L)"
            )
    return report
