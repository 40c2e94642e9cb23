"""Stage `appendix_buckets`: the appendix's scores, on every multiplicity bucket of every layer pair."""

from __future__ import annotations

import logging
from functools import partial

import pandas as pd

from universality import layout
from universality.artifacts import provenance
from universality.layer_pairs import score_subsets, scored_in, write_scored
from universality.pairing.subsets import Subset, cumulative_buckets, range_buckets
from universality.params.schema import Params

log = logging.getLogger(__name__)

STAGE = "appendix_buckets"
MAIN_STAGE = "main_one_to_one"  # its 1-1 sets are taken where a bucket holds the same pairs


def run(params: Params, name: str) -> None:
    """Appendix: cumulative and range multiplicity buckets of every layer pair of comparison NAME."""
    if not params.comparisons[name].buckets:
        log.info("%s: buckets not scored (comparisons.%s.buckets is false)", name, name)
        _write(name, [], pd.DataFrame())
        return
    buckets = partial(bucket_subsets, cumulative=params.subsets.cumulative, ranges=params.subsets.ranges)
    # the m <= 1 bucket can be the main body's 1-1 set: its scores are taken, not recomputed
    records, null_scores = score_subsets(params, name, buckets, scored=scored_in(layout.scored(name, MAIN_STAGE)))
    _write(name, records, null_scores)


def bucket_subsets(kept: pd.DataFrame, _edges: pd.DataFrame, cumulative: list[int], ranges: list[tuple[int, int | None]]) -> list[Subset]:
    """The layer pair's cumulative and range multiplicity buckets (a module-level function: units are pickled)."""
    return cumulative_buckets(kept, cumulative) + range_buckets(kept, ranges)


def _write(name: str, records: list[dict], null_scores: pd.DataFrame) -> None:
    with provenance.writing_set(layout.scored(name, STAGE)) as directory:
        write_scored(directory, records, null_scores)
