"""Model of the `planted` kind: the source's feature dictionary over the world."""

from __future__ import annotations

import logging
from pathlib import Path

from universality.params.schema import Params
from universality.sources.planted.files import load_world, save_dictionary
from universality.sources.planted.world import planted_dictionary

log = logging.getLogger(__name__)


def build(name: str, params: Params, out: Path) -> dict:
    """Write model `name`'s dictionary; a planted model has no training metrics."""
    spec = params.models[name]
    dictionary = planted_dictionary(params.token_sets[spec.tokens], spec, load_world(spec.tokens)["shared_directions"])
    log.info("planted %s: %d features in %d dimensions, geometry noise %.2f", name, *dictionary.feature_vectors.shape, spec.geometry_noise)
    save_dictionary(out, dictionary)
    return {}
