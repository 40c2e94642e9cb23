"""Stage `appendix_buckets`: the appendix's scores, on every multiplicity bucket of every layer pair."""

from __future__ import annotations

from universality import layout
from universality.pairing.subsets import cumulative_buckets, range_buckets
from universality.params.schema import Params
from universality.similarity.scoring import score_subsets, write_scored

STAGE = "appendix_buckets"


def run(params: Params, name: str) -> None:
    """Appendix: cumulative and range multiplicity buckets of every layer pair of comparison NAME."""
    subsets = params.subsets

    def buckets(kept, _edges):
        return cumulative_buckets(kept, subsets.cumulative) + range_buckets(kept, subsets.ranges)

    records, null_scores = score_subsets(params, name, buckets)
    write_scored(layout.scored(name, STAGE), records, null_scores)
