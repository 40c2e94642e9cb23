"""Extraction: activations through SAEs, sparse codes out.

`encode` turns a matrix of activations into CSR codes with quality metrics (planted
sources). `extract_model` is the GPU stage of language models: it runs the token windows
through the model once per batch, reads every configured hook, encodes each layer's
activations with that layer's SAE and keeps only masked positions.

Long runs are checkpointed: every `chunk_windows` windows become one safetensors file in a
scratch directory, written atomically and stamped with a fingerprint of the inputs. A rerun
after a crash (even `kill -9`) skips the chunks already written and never mistakes a partial
result for a complete one: the final caches are assembled only when every chunk exists.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sae_lens import SAE
from tqdm.auto import tqdm

from universality import io
from universality.activations.hooks import hook_activations
from universality.activations.quality import QualityAccumulator

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "fingerprint.json"


@torch.no_grad()
def encode(sae: SAE, activations: np.ndarray, batch_size: int, desc: str) -> tuple[sp.csr_matrix, dict[str, float]]:
    """SAE codes of `activations` (tokens x d_model) as CSR, with FVU, mean L0 and dead fraction."""
    blocks, quality = [], QualityAccumulator()
    for start in tqdm(range(0, len(activations), batch_size), desc=desc, unit="batch"):
        x = torch.from_numpy(activations[start : start + batch_size])
        codes = sae.encode(x)
        quality.add(x, sae.decode(codes), codes)
        blocks.append(sp.csr_matrix(codes.numpy()))
    return sp.vstack(blocks, format="csr"), quality.metrics()


def _chunk_path(scratch: Path, index: int) -> Path:
    return scratch / f"chunk_{index:05d}.safetensors"


def _prepare_scratch(scratch: Path, fingerprint: dict) -> None:
    """Keep the scratch directory's chunks only if they were made from the same inputs."""
    stamp = scratch / FINGERPRINT_FILE
    if stamp.exists() and stamp.read_text(encoding="utf-8") == io.dumps_json(fingerprint):
        return
    if scratch.exists():
        log.info("discarding checkpoints in %s: they were made from other inputs", scratch)
        shutil.rmtree(scratch)
    io.write_json(stamp, fingerprint)


@torch.no_grad()
def extract_model(
    model,
    saes: dict[int, SAE],
    hook_template: str,
    windows: np.ndarray,
    mask: np.ndarray,
    *,
    batch_windows: int,
    chunk_windows: int,
    scratch: Path,
    fingerprint: dict,
    device: str,
    desc: str,
) -> dict[int, tuple[sp.csr_matrix, dict[str, float]]]:
    """Sparse codes of every SAE over the masked positions of `windows`, chunked and resumable.

    Returns {layer: (codes as CSR over the masked tokens in window order, quality metrics)}.
    """
    _prepare_scratch(scratch, fingerprint)
    layers = sorted(saes)
    hook_names = [hook_template.format(layer=layer) for layer in layers]
    starts = range(0, len(windows), chunk_windows)
    done = sum(_chunk_path(scratch, i).exists() for i in range(len(starts)))
    if done:
        log.info("%s: resuming, %d of %d chunks already written", desc, done, len(starts))
    progress = tqdm(total=int(mask.sum()), desc=desc, unit="tok", unit_scale=True)
    for index, chunk_start in enumerate(starts):
        chunk_end = min(chunk_start + chunk_windows, len(windows))
        if _chunk_path(scratch, index).exists():
            progress.update(int(mask[chunk_start:chunk_end].sum()))
            continue
        blocks = {layer: [] for layer in layers}
        quality = {layer: QualityAccumulator() for layer in layers}
        for start in range(chunk_start, chunk_end, batch_windows):
            stop = min(start + batch_windows, chunk_end)
            tokens = torch.from_numpy(windows[start:stop].astype(np.int64)).to(device)
            keep = torch.from_numpy(mask[start:stop]).to(device)
            activations = hook_activations(model, tokens, hook_names)
            for layer, name in zip(layers, hook_names):
                sae = saes[layer]
                x = activations[name][keep].to(sae.dtype)
                codes = sae.encode(x)
                quality[layer].add(x, sae.decode(codes), codes)
                blocks[layer].append(sp.csr_matrix(codes.float().cpu().numpy()))
            progress.update(int(keep.sum()))
        tensors = {}
        for layer in layers:
            codes = sp.vstack(blocks[layer], format="csr") if blocks[layer] else sp.csr_matrix((0, saes[layer].cfg.d_sae))
            tensors |= {
                f"L{layer}.indptr": codes.indptr.astype(np.int64),
                f"L{layer}.indices": codes.indices.astype(np.int32),
                f"L{layer}.values": codes.data.astype(np.float32),
            } | quality[layer].to_tensors(f"L{layer}")
        io.write_tensors(_chunk_path(scratch, index), tensors)
    progress.close()
    return _assemble(scratch, layers, len(starts), {layer: saes[layer].cfg.d_sae for layer in layers})


def _assemble(scratch: Path, layers: list[int], n_chunks: int, widths: dict[int, int]) -> dict[int, tuple[sp.csr_matrix, dict[str, float]]]:
    parts = {layer: [] for layer in layers}
    quality = {layer: QualityAccumulator() for layer in layers}
    for index in range(n_chunks):
        tensors = io.read_tensors(_chunk_path(scratch, index))
        for layer in layers:
            indptr = tensors[f"L{layer}.indptr"]
            shape = (len(indptr) - 1, widths[layer])
            parts[layer].append(sp.csr_matrix((tensors[f"L{layer}.values"], tensors[f"L{layer}.indices"], indptr), shape=shape))
            quality[layer].merge(QualityAccumulator.from_tensors(tensors, f"L{layer}"))
    return {layer: (sp.vstack(parts[layer], format="csr"), quality[layer].metrics()) for layer in layers}


def clear_scratch(scratch: Path) -> None:
    """Remove the checkpoints once the final caches are written (the fingerprint stays)."""
    for path in scratch.glob("chunk_*.safetensors"):
        path.unlink()
