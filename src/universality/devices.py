"""Which torch device a stage computes on: `auto` is CUDA when one is visible, else the CPU."""

from __future__ import annotations

import torch


def resolve_device(choice: str, key: str) -> str:
    """The device for params.yaml's `key` set to `choice` (auto, cpu, cuda, cuda:N)."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"params.yaml {key} is {choice!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return choice
