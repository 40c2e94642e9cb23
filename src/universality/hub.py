"""Calls that need the Hugging Face hub (pretrained models, SAEs, datasets).

When the hub cannot be reached and nothing is cached locally, the call stops with one clear
message: the pretrained experiments' expensive outputs are DVC-tracked, so a machine without
the hub (or without a GPU) fetches them with `dvc pull` instead of recomputing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class HubUnreachable(RuntimeError):
    """A pretrained artifact is neither reachable on the hub nor cached locally."""


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]  # includes ConnectionError and transformers' OSError
    try:
        from huggingface_hub import errors as hf_errors

        errors += [hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled, hf_errors.HfHubHTTPError]
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        pass
    try:
        import httpx

        errors.append(httpx.TransportError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def hub_call(what: str, call: Callable[[], T]) -> T:
    """Run `call`; if it fails for want of the hub, raise HubUnreachable naming `what` and the fix."""
    try:
        return call()
    except _network_errors() as err:
        raise HubUnreachable(
            f"cannot load {what}: the Hugging Face hub is unreachable and it is not in the local cache "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Fetch the cached "
            "activations instead: `dvc pull extract` (then `dvc repro --pull --allow-missing`), or run "
            "on a machine with hub access"
        ) from err
