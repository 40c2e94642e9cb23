"""Sources: where the models and SAEs of a comparison come from.

A source is one model with an SAE per layer, read over one token set. Each source kind is a
subpackage of this package with the same four modules, one per stage, each with a `build`
function, so that stage code never asks which kind it is dealing with and a new kind is one
new subpackage:

    tokens.build(name, params)    write token set `name` to layout.tokens(name)
    model.build(name, params)     write source `name`'s model to layout.model(name); return
                                  its metrics (results/<source>/model.json)
    saes.build(name, params)      write one SAE per layer to layout.saes(name)
    extract.build(name, params)   write one activation cache per layer to
                                  layout.activations(name); return the quality per layer

Kinds: `trained` (a transformer and SAEs trained here on WordNet), `planted` (planted
features with a known answer) and `pretrained` (a hub model and its published SAEs). A kind's
stage module is imported only when that stage runs, so a stage instance depends on its own
kind's module for that stage (and the helpers it imports), not on every kind.
"""

from __future__ import annotations

import importlib
from types import ModuleType

KINDS = ("trained", "planted", "pretrained")


STAGES = ("tokens", "model", "saes", "extract")


def implementation(kind: str, stage: str) -> ModuleType:
    """The module of source kind `kind` that implements `stage`."""
    if kind not in KINDS or stage not in STAGES:
        raise ValueError(f"no source stage {kind}.{stage}; kinds: {', '.join(KINDS)}; stages: {', '.join(STAGES)}")
    return importlib.import_module(f"{__name__}.{kind}.{stage}")
