"""The pretrained kind's records: which hub model and which published SAE each layer uses."""

from __future__ import annotations

from pathlib import Path

from universality import io, layout

MODEL_FILE = "model.json"
SAES_FILE = "saes.json"


def write_model_name(directory: Path, model_name: str, checkpoint: int | None) -> None:
    io.write_json(directory / MODEL_FILE, {"model_name": model_name, "checkpoint": checkpoint})


def read_model_name(model: str) -> tuple[str, int | None]:
    """The hub name of model `model` and its training checkpoint (None: the final weights)."""
    record = io.read_json(layout.model(model) / MODEL_FILE)
    return record["model_name"], record["checkpoint"]


def write_sae_entries(directory: Path, entries: dict[int, dict[str, str]]) -> None:
    io.write_json(directory / SAES_FILE, {str(layer): entry for layer, entry in entries.items()})


def read_sae_entries(source: str) -> dict[int, dict[str, str]]:
    """Per layer: {loader, release, sae_id}."""
    return {int(layer): entry for layer, entry in io.read_json(layout.saes(source) / SAES_FILE).items()}
