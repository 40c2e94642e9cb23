"""Extraction: model activations through an SAE into sparse codes, with quality metrics."""

from __future__ import annotations

import platform
from importlib.metadata import version

import numpy as np
import scipy.sparse as sp
import torch
from sae_lens import SAE
from tqdm.auto import tqdm


def library_versions() -> dict[str, str]:
    return {name: version(name) for name in ("torch", "sae-lens", "numpy", "scipy")} | {
        "python": platform.python_version()
    }


@torch.no_grad()
def encode(sae: SAE, activations: np.ndarray, batch_size: int, desc: str) -> tuple[sp.csr_matrix, dict[str, float]]:
    """SAE codes of `activations` (tokens x d_model) as CSR, with FVU, mean L0 and dead fraction."""
    blocks, squared_error = [], 0.0
    for start in tqdm(range(0, len(activations), batch_size), desc=desc, unit="batch"):
        x = torch.from_numpy(activations[start : start + batch_size])
        codes = sae.encode(x)
        squared_error += float(((sae.decode(codes) - x) ** 2).sum())
        blocks.append(sp.csr_matrix(codes.numpy()))
    codes = sp.vstack(blocks, format="csr")
    total_variance = float(((activations - activations.mean(axis=0)) ** 2).sum())
    fired = np.zeros(codes.shape[1], dtype=bool)
    fired[np.unique(codes.indices)] = True
    quality = {
        "fvu": squared_error / total_variance,
        "l0": codes.nnz / codes.shape[0],
        "dead_fraction": float(1.0 - fired.mean()),
    }
    return codes, quality
