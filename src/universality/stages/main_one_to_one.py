"""Stage `main_one_to_one`: the main body's scores, on the 1-1 pairs of every layer pair."""

from __future__ import annotations

from functools import partial

import pandas as pd

from universality import io, layout
from universality.artifacts import provenance
from universality.layer_pairs import score_subsets, write_scored
from universality.pairing.subsets import Subset, one_to_one
from universality.params.schema import Params
from universality.similarity.scoring import headline_metrics

STAGE = "main_one_to_one"


def run(params: Params, name: str) -> None:
    """Main body: the 1-1 pairs (rule `subsets.one_to_one`) of every layer pair of comparison NAME, with their nulls."""
    records, null_scores = score_subsets(params, name, partial(one_to_one_subset, rule=params.subsets.one_to_one))
    with provenance.writing_set(layout.scored(name, STAGE)) as directory:
        write_scored(directory, records, null_scores)
    io.write_json(layout.stage_metrics(name, STAGE), headline_metrics(records))


def one_to_one_subset(kept: pd.DataFrame, edges: pd.DataFrame, rule: str) -> list[Subset]:
    """The layer pair's 1-1 set under `rule`, from its kept pairs and edges (a module-level function: units are pickled)."""
    return [one_to_one(kept, rule, edges)]
