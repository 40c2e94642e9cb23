"""The activation cache: one safetensors file per (source, layer).

A cache holds the SAE's sparse codes over the token set as CSR (`indptr`, `indices`,
`values`; tokens x d_sae), the SAE's decoder rows `W_dec` (d_sae x d_model), for planted
sources the planted feature each SAE feature recovers (`world_ids`, -1: none), and JSON
metadata in the safetensors header (source, SAE, hook, token hash, sizes, quality metrics,
library versions, device). Files are written atomically, so a cache file that exists is
complete.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from universality import io, layout, restore
from universality.errors import InputError
from universality.io import read_tensor_metadata, write_tensors
from universality.params.schema import Comparison

REQUIRED_META = ("source", "layer", "hook_name", "token_hash", "n_tokens", "d_sae", "d_model")


@dataclass(frozen=True)
class ActivationCache:
    codes: sp.csr_matrix
    W_dec: np.ndarray
    meta: dict[str, Any]
    world_ids: np.ndarray | None = None

    @property
    def token_hash(self) -> str:
        return str(self.meta["token_hash"])


def library_versions() -> dict[str, str]:
    packages = ("torch", "sae-lens", "transformer-lens", "numpy", "scipy")
    return {name: version(name) for name in packages} | {"python": platform.python_version()}


def cache_meta(source: str, layer: int, hook: str, sae: str, token_hash: str, codes, d_model: int, quality: dict, device: str) -> dict:
    """The header of a cache: what was encoded, from which token set, how well, with what."""
    return {
        "source": source,
        "layer": layer,
        "hook_name": hook,
        "sae": sae,
        "token_hash": token_hash,
        "n_tokens": int(codes.shape[0]),
        "d_sae": int(codes.shape[1]),
        "d_model": int(d_model),
        "quality": quality,
        "versions": library_versions(),
        "device": device,
    }


def save_cache(path: str | Path, cache: ActivationCache) -> None:
    codes = cache.codes.tocsr()
    codes.sort_indices()
    missing = [key for key in REQUIRED_META if key not in cache.meta]
    if missing:
        raise ValueError(f"activation cache metadata lacks {missing}")
    tensors = {
        "indptr": codes.indptr.astype(np.int64),
        "indices": codes.indices.astype(np.int32),
        "values": codes.data.astype(np.float32),
        "W_dec": cache.W_dec.astype(np.float32),
    }
    if cache.world_ids is not None:
        tensors["world_ids"] = cache.world_ids.astype(np.int64)
    write_tensors(path, tensors, metadata=cache.meta)


DTYPES = {"indptr": np.int64, "indices": np.int32, "values": np.float32, "W_dec": np.float32, "world_ids": np.int64}


def load_cache(path: str | Path) -> ActivationCache:
    """The cache at `path`, refused (naming the file and the fix) unless its structure and values are those of SAE codes."""
    path = Path(path)
    meta = read_tensor_metadata(path)
    tensors = io.read_tensors(path)
    _check(path, meta, tensors)
    n_tokens, d_sae = int(meta["n_tokens"]), int(meta["d_sae"])
    codes = sp.csr_matrix((tensors["values"], tensors["indices"], tensors["indptr"]), shape=(n_tokens, d_sae))
    return ActivationCache(codes=codes, W_dec=tensors["W_dec"], meta=meta, world_ids=tensors.get("world_ids"))


def _check(path: Path, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    def refuse(problem: str):
        raise InputError(restore.damaged_message(path, problem))

    missing = [key for key in REQUIRED_META if key not in meta] + [name for name in DTYPES if name != "world_ids" and name not in tensors]
    if missing:
        refuse(f"is not an activation cache: it lacks {missing}")
    for name, array in tensors.items():
        if name in DTYPES and array.dtype != DTYPES[name]:
            refuse(f"holds {name} as {array.dtype}, not {np.dtype(DTYPES[name])}")
    n_tokens, d_sae, d_model = int(meta["n_tokens"]), int(meta["d_sae"]), int(meta["d_model"])
    indptr, indices, values, W_dec = (tensors[name] for name in ("indptr", "indices", "values", "W_dec"))
    shapes_ok = indptr.shape == (n_tokens + 1,) and indices.shape == values.shape == (int(indptr[-1]),) and W_dec.shape == (d_sae, d_model)
    if not shapes_ok or indptr[0] != 0 or (np.diff(indptr) < 0).any() or (indices.size and not 0 <= indices.min() <= indices.max() < d_sae):
        refuse(f"does not hold a {n_tokens} x {d_sae} sparse code matrix and a {d_sae} x {d_model} decoder, as its header says")
    if not np.isfinite(values).all():
        refuse(f"holds {int((~np.isfinite(values)).sum())} NaN or infinite codes")
    if values.size and values.min() < 0:
        refuse(f"holds {int((values < 0).sum())} negative codes, but SAE codes are non-negative")
    bad_rows = np.flatnonzero(~np.isfinite(W_dec).all(axis=1))
    if bad_rows.size:
        refuse(f"holds NaN or infinite decoder rows (features {bad_rows[:5].tolist()}{' ...' if bad_rows.size > 5 else ''}); "
               f"if the SAE in {layout.saes(str(meta['source']))} holds them too, retrain it first")  # fmt: skip
    if values.size == 0 or not values.any():
        refuse(f"has no feature that fires on any of its {n_tokens} tokens: every feature of the SAE is dead")


def load_layer_pair(comparison: Comparison, layer_a: int, layer_b: int) -> tuple[ActivationCache, ActivationCache]:
    """The caches of A's layer and B's layer, refused when they come from different token sets."""
    cache_a, cache_b = (
        load_cache(layout.activation_cache(comparison.a, layer_a)),
        load_cache(layout.activation_cache(comparison.b, layer_b)),
    )
    if cache_a.token_hash != cache_b.token_hash:
        raise InputError(
            f"activation caches {comparison.a} L{layer_a} and {comparison.b} L{layer_b} come from different token sets "
            f"({cache_a.token_hash[:12]} vs {cache_b.token_hash[:12]}): rebuild them with `dvc repro`"
        )
    return cache_a, cache_b
