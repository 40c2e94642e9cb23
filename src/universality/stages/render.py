"""Stage `render`: the manuscript's tables, number macros and figures, from the results files.

`text_outputs` is also what `verify` recomputes to check the manuscript's sources against the results.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

from universality import io, layout
from universality.artifacts import manifest, provenance
from universality.errors import InputError
from universality.params import Params, parse_params
from universality.report import calibration, claims, collapse, figures, numbers, sensitivity, subspaces, tables
from universality.similarity.nulls import family_q_values

HUBS_PER_LAYER_PAIR = 3  # hubs shown in the appendix table; hubs.json holds params.hubs.count
MAIN, BUCKETS = "main_one_to_one", "appendix_buckets"


def _family(params: Params, results: dict[str, Any]) -> dict[str, list[dict]]:
    """The Benjamini-Hochberg family: every scored subset whose p the manuscript prints: main body, appendix,
    the shuffled-window null and the planted checks."""
    family = {params.paper.main: results["records"] + results["buckets"]}
    for name, records in [(params.paper.shuffled, results["shuffled"])] + [
        (getattr(params.paper, role), records) for role, records in results["planted"].items()
    ]:
        family.setdefault(name, []).extend(records)
    return family


def params_used(params: Params) -> Params:
    """`params` with the settings the results were computed with, as their records say (not params.yaml's).

    Every input, and every set up its chain, agrees on them (`provenance.check_one_setting`, checked before a stage
    runs); `paper`, which names what the manuscript quotes, is render's own."""
    data = json.loads(io.dumps_json(dataclasses.asdict(params)))  # plain JSON types, as params.yaml reads
    for record in provenance.drawn_on(provenance.declared_inputs("render", None, params)).values():
        for key, value in record["params"].items():
            if key != "paper":
                *sections, last = key.split(".")
                functools.reduce(dict.__getitem__, sections, data)[last] = value
    return parse_params(data)


def model_metrics(model: str) -> dict[str, Any]:
    """A model's metrics from their copy for `dvc metrics show`, refused unless it is the model set's file (or,
    where the models were not pulled, has the sha256 the model stage's manifest record gives that file)."""
    copy, original = layout.model_metrics(model), layout.model(model) / layout.METRICS_FILE
    io.require(copy)
    expected = io.sha256_file(original) if original.exists() else manifest.recorded_sha256(original)
    if io.sha256_file(copy) != expected:
        raise InputError(f"{copy} is not a copy of {original} (edited by hand?): restore it with `git checkout -- {copy}` "
                         f"or rewrite it with `dvc repro -s --force model@{model}`")  # fmt: skip
    return io.read_json(copy)


def load_results(params: Params) -> dict[str, Any]:
    """Every results file the manuscript reads, with the q-values of one family added to the scored records."""
    main = params.paper.main
    pair = layout.pair(main)
    results = {
        "records": io.read_json(layout.scored(main, MAIN) / "results.json"),
        "buckets": io.read_json(layout.scored(main, BUCKETS) / "results.json"),
        "pair_summary": io.read_json(pair / "summary.json"),
        "setup": io.read_json(pair / "setup.json"),
        "hubs": io.read_json(pair / "hubs.json"),
        "shuffled": io.read_json(layout.scored(params.paper.shuffled, MAIN) / "results.json"),
        "planted": {
            role: io.read_json(layout.scored(getattr(params.paper, role), MAIN) / "results.json")
            for role in ("planted_related", "planted_unrelated")
        },
        "calibration": io.read_json(layout.calibration() / "results.json"),
        "collapse": io.read_json(layout.collapse(main) / "results.json"),
        "sensitivity": io.read_json(layout.sensitivity(main) / "results.json"),
        "subspaces": io.read_json(layout.subspaces(main) / "results.json"),
    }
    for side in ("a", "b"):
        results["setup"][side]["model"] = model_metrics(results["setup"][side]["spec"]["model"])
    family_q_values(_family(params, results))
    return results


def text_outputs(params: Params, results: dict[str, Any]) -> dict[Path, str]:
    """Every generated LaTeX file of the manuscript, by path."""
    records, calibrated, analysed, split = results["records"], results["calibration"], results["collapse"], results["subspaces"]
    main, appendix = layout.GENERATED / "main", layout.GENERATED / "appendix"
    outputs = {
        main / "one_to_one.tex": tables.one_to_one_table(records, results["pair_summary"], params.subsets.one_to_one),
        main / "calibration.tex": calibration.calibration_table(calibrated["layer_pairs"]),
        appendix / "metrics.tex": tables.metric_table(records),
        appendix / "pc1.tex": tables.pc1_table(records),
        appendix / "planted.tex": tables.planted_table(results["planted"]),
        appendix / "filters.tex": tables.filter_table(results["pair_summary"]),
        appendix / "rule_sizes.tex": tables.rule_size_table(results["pair_summary"]),
        appendix / "hubs.tex": tables.hub_table(results["hubs"], HUBS_PER_LAYER_PAIR),
        appendix / "calibration_metrics.tex": calibration.calibration_metric_table(calibrated["layer_pairs"]),
        appendix / "shuffled.tex": calibration.shuffled_table(calibrated["shuffled"]),
        appendix / "collapse_coverage.tex": collapse.bucket_coverage_table(analysed["layer_pairs"]),
        appendix / "collapse_scores.tex": collapse.bucket_score_table(analysed["layer_pairs"]),
        appendix / "collapse_strata.tex": collapse.strata_table(analysed["layer_pairs"]),
        appendix / "collapse_hubs.tex": collapse.hub_profile_table(analysed["layer_pairs"], HUBS_PER_LAYER_PAIR),
        appendix / "collapse_hub_children.tex": collapse.hub_children_table(analysed["layer_pairs"], HUBS_PER_LAYER_PAIR),
        appendix / "sensitivity.tex": sensitivity.sensitivity_table(results["sensitivity"]),
        appendix / "token_identity.tex": subspaces.identity_table(split["identity"]),
        appendix / "semantic_rule.tex": subspaces.rule_table(split),
        appendix / "semantic_grid.tex": subspaces.grid_table(split),
    }
    for metric in tables.HEADLINE:
        outputs[appendix / f"buckets_{metric}.tex"] = tables.bucket_table(results["buckets"], metric)
    extra = (calibration.calibration_macros(calibrated, results["pair_summary"]) | collapse.collapse_macros(analysed, params.collapse)
             | sensitivity.sensitivity_macros(results["sensitivity"]) | subspaces.subspace_macros(split)
             | claims.claim_macros(records, results["buckets"], results["setup"]))  # fmt: skip
    outputs[layout.GENERATED / "numbers.tex"] = numbers.numbers_tex(params, results, results["planted"], extra)
    return outputs


def draw_figures(params: Params, results: dict[str, Any], folder: Path) -> None:
    """The manuscript's figures, at their final size, into `folder`."""
    records = results["records"]
    figures.one_to_one_heatmap(records, folder / "one_to_one_heatmap.pdf")
    calibration.calibration_figure(results["calibration"]["layer_pairs"], folder / "calibration_band.pdf")
    figures.collapse_curves(results["collapse"]["layer_pairs"], collapse.METRICS, folder / "collapse_curves.pdf")
    sensitivity.sensitivity_figure(results["sensitivity"], folder / "sensitivity.pdf")
    subspaces.grid_figure(results["subspaces"], folder / "semantic_grid.pdf")
    null_scores = io.read_parquet(layout.scored(params.paper.main, MAIN) / "null_scores.parquet")
    figures.one_to_one_nulls(records, null_scores, folder / "one_to_one_nulls.pdf")
    pair = layout.pair(params.paper.main)
    pairs = {key: io.read_parquet(pair / f"pairs_{key}.parquet") for key in results["pair_summary"]}
    figures.multiplicity(pairs, folder / "multiplicity.pdf")


def run(params: Params) -> None:
    """Tables, number macros and figures for the manuscript, from the comparisons `paper` names, as one output set; then
    the headline of each quoted comparison for `dvc metrics show`."""
    params = params_used(params)
    results = load_results(params)
    with provenance.writing_set(layout.GENERATED) as staging:
        for path, text in text_outputs(params, results).items():
            io.write_text(staging / path.relative_to(layout.GENERATED), text)
        draw_figures(params, results, staging / layout.FIGURES.relative_to(layout.GENERATED))
    for name in set(params.paper.named().values()):  # every comparison the paper quotes
        records, pair_summary = io.read_json(layout.scored(name, MAIN) / "results.json"), io.read_json(layout.pair(name) / "summary.json")
        io.write_json(layout.headline(name), tables.summary_metrics(records, pair_summary))
