"""SAEs of the `planted` kind: one TopK SAE (layer 0) trained on the dictionary's activations."""

from __future__ import annotations

import logging
from pathlib import Path

from universality import layout
from universality.params.schema import Params
from universality.sources.planted.files import load_dictionary, load_world
from universality.sources.planted.sae_training import train_planted_sae
from universality.sources.sae_files import save_sae

log = logging.getLogger(__name__)


def build(name: str, params: Params, out: Path) -> None:
    source = params.sources[name]
    log.info("training SAE %s: d_sae %d, k %d", name, source.sae.d_sae, source.sae.k)
    probabilities = load_world(source.tokens)["firing_probabilities"]
    sae = train_planted_sae(load_dictionary(source.model), source.sae, params.token_sets[source.tokens], probabilities)
    save_sae(sae, out / layout.sae_folder(0))
