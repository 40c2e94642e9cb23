"""Stage `calibration`: the main comparison's 1-1 scores against its skyline, floor, replicates and shuffled windows."""

from __future__ import annotations

import logging

import yaml

from universality import io, layout
from universality.artifacts import provenance
from universality.calibration.references import by_layer_pair, calibrate, shuffled_null
from universality.params.schema import Params

log = logging.getLogger(__name__)

STAGE, SCORES = "calibration", "main_one_to_one"


def replicate_inputs(params: Params) -> list[str]:
    """The replicates' results this stage reads: dvc.yaml lists each one (a list DVC cannot expand into deps)."""
    return [str(layout.scored(name, SCORES)) for name in params.paper.replicates]


def _check_declared(params: Params) -> None:
    declared = yaml.safe_load(layout.DVC_FILE.read_text())["stages"][STAGE]["deps"]
    missing = [path for path in replicate_inputs(params) if path not in declared]
    if missing:
        raise ValueError(
            f"{layout.DVC_FILE}: stage {STAGE} lacks the deps {missing} (paper.replicates); add one entry each, before its `# code:` block, so that DVC reruns it"
        )


def _scores(name: str):
    return by_layer_pair(io.read_json(layout.scored(name, SCORES) / "results.json"))


def run(params: Params) -> None:
    """Skyline, floor, gap fractions and seed spread per layer pair and metric; the shuffled-window null."""
    _check_declared(params)
    paper = params.paper
    log.info("calibrating %s against skyline %s, floor %s and %d replicates", paper.main, paper.skyline, paper.floor, len(paper.replicates))
    replicates = [_scores(name) for name in paper.replicates]
    layer_pairs = calibrate(_scores(paper.main), _scores(paper.skyline), _scores(paper.floor), replicates, params.skyline_side())
    shuffled = shuffled_null(io.read_json(layout.pair(paper.shuffled) / "summary.json"), _scores(paper.shuffled), params.subsets.one_to_one)
    roles = {"main": paper.main, "skyline": paper.skyline, "floor": paper.floor, "shuffled": paper.shuffled, "replicates": paper.replicates}
    with provenance.writing_set(layout.calibration()) as directory:
        io.write_json(directory / "results.json", {"comparisons": roles, "layer_pairs": layer_pairs, "shuffled": shuffled})
    io.write_json(layout.calibration_metrics(), {
        layout.layer_pair_key(row["layer_a"], row["layer_b"]): {
            f"{metric}_{field}": value
            for metric, scores in row["metrics"].items()
            for field, value in (("gap_fraction", scores["gap_fraction"]), ("seed_sd", scores["seeds"]["sd"]))
        }
        for row in layer_pairs
    })  # fmt: skip
