"""The activation cache: one safetensors file per (model, layer).

A cache holds the SAE's sparse codes over the token set as CSR (`indptr`, `indices`,
`values`; tokens x d_sae), the SAE's decoder rows `W_dec` (d_sae x d_model), and JSON
metadata in the safetensors header (model, SAE, hook, token hash, sizes, quality metrics,
library versions, device). Files are written atomically, so a cache file that exists is
complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from safetensors import safe_open

from universality.io import read_tensor_metadata, write_tensors

REQUIRED_META = ("model", "layer", "hook_name", "token_hash", "n_tokens", "d_sae", "d_model")


@dataclass(frozen=True)
class ActivationCache:
    codes: sp.csr_matrix
    W_dec: np.ndarray
    meta: dict[str, Any]

    @property
    def token_hash(self) -> str:
        return str(self.meta["token_hash"])


def cache_path(directory: str | Path, model: str, layer: int) -> Path:
    return Path(directory) / f"{model}_L{layer}.safetensors"


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
    write_tensors(path, tensors, metadata=cache.meta)


def load_cache(path: str | Path) -> ActivationCache:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"activation cache {path} is missing: rebuild it with `dvc repro extract` or fetch it with `dvc pull extract`"
        )
    meta = read_tensor_metadata(path)
    with safe_open(str(path), framework="numpy") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    n_tokens, d_sae = int(meta["n_tokens"]), int(meta["d_sae"])
    codes = sp.csr_matrix((tensors["values"], tensors["indices"], tensors["indptr"]), shape=(n_tokens, d_sae))
    return ActivationCache(codes=codes, W_dec=tensors["W_dec"], meta=meta)
