"""Stage `main_one_to_one`: the main body's scores, on the 1-1 pairs of every layer pair."""

from __future__ import annotations

from universality import io, layout
from universality.artifacts import provenance
from universality.layer_pairs import score_subsets, write_scored
from universality.pairing.subsets import one_to_one
from universality.params.schema import Params
from universality.similarity.scoring import headline_metrics

STAGE = "main_one_to_one"


def run(params: Params, name: str) -> None:
    """Main body: the 1-1 pairs (rule `subsets.one_to_one`) of every layer pair of comparison NAME, with their nulls."""
    rule = params.subsets.one_to_one
    records, null_scores = score_subsets(params, name, lambda kept, edges: [one_to_one(kept, rule, edges)])
    with provenance.writing_set(layout.scored(name, STAGE)) as directory:
        write_scored(directory, records, null_scores)
    io.write_json(layout.stage_metrics(name, STAGE), headline_metrics(records))
