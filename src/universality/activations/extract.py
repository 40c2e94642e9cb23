"""Extraction: activations through SAEs, sparse codes out.

`encode` turns a matrix of activations into CSR codes with quality metrics (planted
sources). `extract_model` is the GPU stage of language models: it runs the token windows
through the model once per batch, reads every configured hook, encodes each layer's
activations with that layer's SAE and keeps only masked positions.

Every `chunk_windows` windows are one unit (`extract_chunk`, run by `executors`, one GPU each
on a Ray cluster with GPUs) and become one safetensors file in a scratch directory, written
atomically and stamped with a fingerprint of the inputs. A rerun after a crash (even
`kill -9`) skips the chunks already written and never mistakes a partial result for a
complete one: the final caches are assembled only when every chunk exists.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sae_lens import SAE
from tqdm.auto import tqdm

from universality import io
from universality.activations.hooks import hook_activations
from universality.activations.quality import QualityAccumulator
from universality.devices import resolve_device
from universality.executors import Unit, run_units

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


Loader = Callable[[str], tuple[Any, dict[int, SAE], dict]]  # device -> (model, SAEs by layer, their descriptions)
_LOADED: dict[tuple[str, str], tuple[Any, dict[int, SAE]]] = {}  # this process's model and SAEs, by fingerprint and device


def _model_and_saes(load: Loader, identity: str, device: str) -> tuple[Any, dict[int, SAE]]:
    """The model and SAEs of fingerprint `identity` on `device`, loaded once per process (a worker runs many chunks)."""
    if (identity, device) not in _LOADED:
        _LOADED.clear()
        _LOADED[identity, device] = load(device)[:2]
    return _LOADED[identity, device]


def extract_model(
    model,
    saes: dict[int, SAE],
    load: Loader,
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
) -> tuple[dict[int, tuple[sp.csr_matrix, dict[str, float]]], list[str]]:
    """Sparse codes of every SAE over the masked positions of `windows`, chunked and resumable.

    Every chunk not yet in `scratch` is one unit (`executors`): it runs on the device that
    `device` (a params.yaml setting: auto, cpu, cuda) resolves to where it runs, loading the
    model and SAEs with `load` unless its process already holds them (`model` and `saes` are this
    process's). Returns {layer: (codes as CSR over the masked tokens in window order, quality
    metrics)} and the devices the chunks of this run used.
    """
    _prepare_scratch(scratch, fingerprint)
    identity = io.dumps_json(fingerprint)
    _LOADED.clear()
    _LOADED[identity, resolve_device(device, "extract.device")] = model, saes
    starts = range(0, len(windows), chunk_windows)
    missing = [index for index in range(len(starts)) if not _chunk_path(scratch, index).exists()]
    if len(missing) < len(starts):
        log.info("%s: resuming, %d of %d chunks already written", desc, len(starts) - len(missing), len(starts))
    units = []
    for index in missing:
        rows = slice(starts[index], starts[index] + chunk_windows)
        chunk = (hook_template, windows[rows], mask[rows], batch_windows, _chunk_path(scratch, index))
        units.append(Unit((index,), extract_chunk, (load, identity, device, *chunk), gpus=1, label=f"chunk {index}"))
    devices = sorted(set(run_units(units, desc).values()))
    return _assemble(scratch, sorted(saes), len(starts), {layer: sae.cfg.d_sae for layer, sae in saes.items()}), devices


@torch.no_grad()
def extract_chunk(load: Loader, identity: str, device: str, hook_template: str, windows: np.ndarray, mask: np.ndarray,
                  batch_windows: int, path: Path) -> str:  # fmt: skip
    """One unit: the codes and quality of every layer over one chunk of windows, written atomically to `path`; returns the device used."""
    device = resolve_device(device, "extract.device")
    model, saes = _model_and_saes(load, identity, device)
    layers = sorted(saes)
    hook_names = [hook_template.format(layer=layer) for layer in layers]
    blocks: dict[int, list[sp.csr_matrix]] = {layer: [] for layer in layers}
    quality = {layer: QualityAccumulator() for layer in layers}
    for start in range(0, len(windows), batch_windows):
        tokens = torch.from_numpy(windows[start : start + batch_windows].astype(np.int64)).to(device)
        keep = torch.from_numpy(mask[start : start + batch_windows]).to(device)
        activations = hook_activations(model, tokens, hook_names)
        for layer, name in zip(layers, hook_names, strict=True):
            sae = saes[layer]
            x = activations[name][keep].to(sae.dtype)
            codes = sae.encode(x)
            quality[layer].add(x, sae.decode(codes), codes)
            blocks[layer].append(sp.csr_matrix(codes.float().cpu().numpy()))
    tensors: dict[str, np.ndarray] = {}
    for layer in layers:
        codes = sp.vstack(blocks[layer], format="csr") if blocks[layer] else sp.csr_matrix((0, saes[layer].cfg.d_sae))
        tensors |= {
            f"L{layer}.indptr": codes.indptr.astype(np.int64),
            f"L{layer}.indices": codes.indices.astype(np.int32),
            f"L{layer}.values": codes.data.astype(np.float32),
        } | quality[layer].to_tensors(f"L{layer}")
    io.write_tensors(path, tensors)
    return device


def _assemble(scratch: Path, layers: list[int], n_chunks: int, widths: dict[int, int]) -> dict[int, tuple[sp.csr_matrix, dict[str, float]]]:
    parts: dict[int, list[sp.csr_matrix]] = {layer: [] for layer in layers}
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
