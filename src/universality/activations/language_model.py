"""Activation caches of a language-model source: hook check, chunked extraction, one cache per layer.

Shared by the source kinds whose model is a TransformerLens model (trained here or
pretrained): the kind loads the model and its SAEs and says how to describe them; this
module checks the hooks, extracts every layer in one pass per batch (resumable through the
source's scratch directory) and writes the caches.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from universality import layout
from universality.activations.cache import ActivationCache, cache_meta, save_cache
from universality.activations.extract import Loader, clear_scratch, extract_model
from universality.activations.hooks import check_hooks, check_saes
from universality.artifacts import provenance
from universality.devices import resolve_device
from universality.params.schema import Params
from universality.token_sets import load_token_set

log = logging.getLogger(__name__)


def extract_language_model(source: str, params: Params, load: Loader, out: Path) -> dict:
    """Caches of every layer of `source` into folder `out`; `load(device)` gives the model, its SAEs and their descriptions.

    Returns the quality of each layer (FVU, L0, dead fraction, hook check), keyed `L<layer>`.
    """
    device = resolve_device(params.extract.device, "extract.device")
    model, saes, descriptions = load(device)
    check_saes(model, saes, {layer: descriptions["saes"][layer] for layer in saes}, source)
    token_set = load_token_set(layout.tokens(params.sources[source].tokens))
    windows, mask = token_set.analysis_windows()
    settings = params.extract
    check = windows[: settings.hook_check_windows], mask[: settings.hook_check_windows]
    log.info("checking hooks of %s on %d windows", source, len(check[0]))
    hooks = check_hooks(model, saes, settings.hook, *check, settings.batch_windows, device, max_fvu=settings.hook_check_max_fvu)
    fingerprint = {
        "token_hash": token_set.token_hash,
        "model": descriptions["model"],
        "saes": {str(layer): descriptions["saes"][layer] for layer in saes},
        "hook": settings.hook,
        "batch_windows": settings.batch_windows,
        "chunk_windows": settings.chunk_windows,
        "device": device,
        "code": provenance.code_digest("extract"),  # a fixed bug must not resume from chunks the buggy code wrote
    }
    scratch = layout.extract_scratch(source)
    started = time.perf_counter()
    results, used = extract_model(
        model, saes, load, settings.hook, windows, mask,
        batch_windows=settings.batch_windows, chunk_windows=settings.chunk_windows,
        scratch=scratch, fingerprint=fingerprint, device=settings.device, desc=f"extract {source}",
    )  # fmt: skip
    if used and used != [device]:  # units on a Ray cluster's GPUs
        device = ", ".join(used)
    seconds = time.perf_counter() - started
    quality = {}
    for layer, (codes, metrics) in results.items():
        metrics = metrics | {"hook_check": hooks[layer]}
        log.info("%s L%d: FVU %.4f (best neighbour hook %.4f), L0 %.1f, dead %.3f", source, layer, metrics["fvu"],
                 min(hooks[layer]["neighbours"].values()), metrics["l0"], metrics["dead_fraction"])  # fmt: skip
        W_dec = saes[layer].W_dec.detach().float().cpu().numpy()
        meta = cache_meta(source, layer, params.hook_name(layer), descriptions["saes"][layer], token_set.token_hash,
                          codes, W_dec.shape[1], metrics, device)  # fmt: skip
        save_cache(out / layout.cache_file(layer), ActivationCache(codes=codes, W_dec=W_dec, meta=meta))
        quality[f"L{layer}"] = metrics
    log.info("%s: extracted %d tokens x %d layers at %.0f tokens/s on %s", source, int(mask.sum()), len(saes), mask.sum() / seconds, device)
    clear_scratch(scratch)
    return quality
