"""Which torch device a stage computes on: `auto` is CUDA when one is visible, else the CPU."""

from __future__ import annotations

import torch

from universality.errors import InputError
from universality.params.schema import Params


def resolve_device(choice: str, key: str) -> str:
    """The device for params.yaml's `key` set to `choice` (auto, cpu, cuda, cuda:N); refused when it is not on this machine."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(choice.partition(":")[2] or 0)
        if index >= visible:
            raise InputError(
                f"params.yaml: {key} = {choice!r} but this machine has {visible} visible CUDA device(s); set {key}: auto or cpu"
            )
    return choice


def check_present(params: Params) -> None:
    """Refuse, naming the key, a device setting of params.yaml that this machine does not have."""
    for key, choice in (
        ("extract.device", params.extract.device),
        ("pairing.device", params.pairing.device),
        ("nulls.device", params.nulls.device),
    ):
        resolve_device(choice, key)
