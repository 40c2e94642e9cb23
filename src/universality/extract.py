"""Extraction: tokens through a model, residual activations through SAEs, sparse codes out.

`encode` turns a matrix of activations into CSR codes with quality metrics (synthetic
experiment). `extract_model` is the GPU stage of the language-model experiments: it runs
the token windows through the model once per batch, reads every configured hook, encodes
each layer's activations with that layer's SAE and keeps only masked positions.

Long runs are checkpointed: every `chunk_windows` windows become one safetensors file in a
scratch directory, written atomically and stamped with a fingerprint of the inputs. A rerun
after a crash (even `kill -9`) skips the chunks already written and never mistakes a partial
result for a complete one: the final caches are assembled only when every chunk exists.
"""

from __future__ import annotations

import logging
import platform
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sae_lens import SAE
from tqdm.auto import tqdm

from universality import io

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "fingerprint.json"


class HookMismatch(RuntimeError):
    """An SAE reconstructs a neighbouring block's output better than its configured hook."""


def library_versions() -> dict[str, str]:
    packages = ("torch", "sae-lens", "transformer-lens", "numpy", "scipy")
    return {name: version(name) for name in packages} | {"python": platform.python_version()}


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("params.yaml extract.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return choice


@dataclass
class QualityAccumulator:
    """Running sums for the fraction of variance unexplained, L0 and dead fraction."""

    squared_error: float = 0.0
    sum_x: np.ndarray | None = None
    sum_squared_x: float = 0.0
    n_tokens: int = 0
    nnz: int = 0
    fired: np.ndarray | None = None

    def add(self, x: torch.Tensor, reconstruction: torch.Tensor, codes: torch.Tensor) -> None:
        x64 = x.double()
        self.squared_error += float(((reconstruction.double() - x64) ** 2).sum())
        column_sum = x64.sum(dim=0).cpu().numpy()
        self.sum_x = column_sum if self.sum_x is None else self.sum_x + column_sum
        self.sum_squared_x += float((x64**2).sum())
        self.n_tokens += x.shape[0]
        active = codes != 0
        self.nnz += int(active.sum())
        fired = active.any(dim=0).cpu().numpy()
        self.fired = fired if self.fired is None else self.fired | fired

    def merge(self, other: QualityAccumulator) -> None:
        self.squared_error += other.squared_error
        self.sum_x = other.sum_x if self.sum_x is None else self.sum_x + other.sum_x
        self.sum_squared_x += other.sum_squared_x
        self.n_tokens += other.n_tokens
        self.nnz += other.nnz
        self.fired = other.fired if self.fired is None else self.fired | other.fired

    def metrics(self) -> dict[str, float]:
        total_variance = self.sum_squared_x - float(self.sum_x @ self.sum_x) / self.n_tokens
        return {
            "fvu": self.squared_error / total_variance,
            "l0": self.nnz / self.n_tokens,
            "dead_fraction": float(1.0 - self.fired.mean()),
        }

    def to_tensors(self, prefix: str) -> dict[str, np.ndarray]:
        scalars = np.array([self.squared_error, self.sum_squared_x, self.n_tokens, self.nnz], dtype=np.float64)
        return {f"{prefix}.sums": scalars, f"{prefix}.sum_x": self.sum_x, f"{prefix}.fired": self.fired.astype(np.uint8)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], prefix: str) -> QualityAccumulator:
        squared_error, sum_squared_x, n_tokens, nnz = tensors[f"{prefix}.sums"].tolist()
        return cls(squared_error, tensors[f"{prefix}.sum_x"], sum_squared_x, int(n_tokens), int(nnz), tensors[f"{prefix}.fired"].astype(bool))


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


def neighbour_hook(hook_template: str, layer: int) -> str:
    """The hook of the neighbouring block: block L-1's (block 1's for layer 0)."""
    return hook_template.format(layer=layer - 1 if layer > 0 else layer + 1)


@torch.no_grad()
def _hook_activations(model, tokens: torch.Tensor, hook_names: list[str]) -> dict[str, torch.Tensor]:
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
        activations = _hook_activations(model, tokens, names)
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
            activations = _hook_activations(model, tokens, hook_names)
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
