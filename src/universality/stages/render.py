"""Stage `render`: the manuscript's tables, number macros and figures, from the results files."""

from __future__ import annotations

from universality import io, layout
from universality.params.schema import Params
from universality.report import calibration, collapse, figures, numbers, sensitivity, subspaces, tables
from universality.similarity.nulls import family_q_values

HUBS_PER_LAYER_PAIR = 3  # hubs shown in the appendix table; hubs.json holds params.hubs.count
MAIN, BUCKETS = "main_one_to_one", "appendix_buckets"


def _family(params: Params, results: dict, planted: dict) -> dict[str, list[dict]]:
    """The Benjamini-Hochberg family: every scored subset whose p the manuscript prints: main body, appendix,
    the shuffled-window null and the planted checks."""
    family = {params.paper.main: results["records"] + results["buckets"]}
    shuffled = io.read_json(layout.scored(params.paper.shuffled, MAIN) / "results.json")
    for name, records in [(params.paper.shuffled, shuffled)] + [(getattr(params.paper, role), records) for role, records in planted.items()]:
        family.setdefault(name, []).extend(records)
    return family


def run(params: Params) -> None:
    """Tables, number macros and figures for the manuscript, from the comparisons `paper` names."""
    main = params.paper.main
    pair = layout.pair(main)
    results = {
        "records": io.read_json(layout.scored(main, MAIN) / "results.json"),
        "buckets": io.read_json(layout.scored(main, BUCKETS) / "results.json"),
        "pair_summary": io.read_json(pair / "summary.json"),
        "setup": io.read_json(pair / "setup.json"),
    }
    for side in ("a", "b"):
        results["setup"][side]["model"] = io.read_json(layout.model_metrics(results["setup"][side]["spec"]["model"]))
    planted = {role: io.read_json(layout.scored(getattr(params.paper, role), MAIN) / "results.json") for role in ("planted_related", "planted_unrelated")}
    family_q_values(_family(params, results, planted))
    generated = layout.GENERATED
    io.write_text(generated / "main" / "one_to_one.tex", tables.one_to_one_table(results["records"]))
    io.write_text(generated / "appendix" / "buckets.tex", tables.bucket_table(results["buckets"]))
    io.write_text(generated / "appendix" / "filters.tex", tables.filter_table(results["pair_summary"]))
    io.write_text(generated / "appendix" / "metrics.tex", tables.metric_table(results["records"]))
    io.write_text(generated / "appendix" / "hubs.tex", tables.hub_table(io.read_json(pair / "hubs.json"), HUBS_PER_LAYER_PAIR))
    calibrated = io.read_json(layout.calibration() / "results.json")
    io.write_text(generated / "main" / "calibration.tex", calibration.calibration_table(calibrated["layer_pairs"]))
    io.write_text(generated / "appendix" / "calibration_metrics.tex", calibration.calibration_metric_table(calibrated["layer_pairs"]))
    io.write_text(generated / "appendix" / "shuffled.tex", calibration.shuffled_table(calibrated["shuffled"]))
    analysed = io.read_json(layout.collapse(main) / "results.json")
    io.write_text(generated / "appendix" / "collapse_buckets.tex", collapse.bucket_table(analysed["layer_pairs"]))
    io.write_text(generated / "appendix" / "collapse_strata.tex", collapse.strata_table(analysed["layer_pairs"]))
    io.write_text(generated / "appendix" / "collapse_hubs.tex", collapse.hub_anatomy_table(analysed["layer_pairs"], HUBS_PER_LAYER_PAIR))
    grid = io.read_json(layout.sensitivity(main) / "results.json")
    io.write_text(generated / "appendix" / "sensitivity.tex", sensitivity.sensitivity_table(grid))
    sensitivity.sensitivity_figure(grid, layout.FIGURES / "sensitivity.pdf")
    split = io.read_json(layout.subspaces(main) / "results.json")
    io.write_text(generated / "appendix" / "token_identity.tex", subspaces.identity_table(split["identity"]))
    io.write_text(generated / "appendix" / "semantic_rule.tex", subspaces.rule_table(split))
    io.write_text(generated / "appendix" / "semantic_grid.tex", subspaces.grid_table(split))
    subspaces.grid_figure(split, layout.FIGURES / "semantic_grid.pdf")
    extra = (calibration.calibration_macros(calibrated) | collapse.collapse_macros(analysed, params.collapse)
             | sensitivity.sensitivity_macros(grid) | subspaces.subspace_macros(split))  # fmt: skip
    io.write_text(generated / "numbers.tex", numbers.numbers_tex(params, results, planted, extra))
    figures.collapse_curves(analysed["layer_pairs"], collapse.METRICS, layout.FIGURES / "collapse_curves.pdf")
    null_scores = io.read_parquet(layout.scored(main, MAIN) / "null_scores.parquet")
    figures.one_to_one_nulls(results["records"], null_scores, layout.FIGURES / "one_to_one_nulls.pdf")
    pairs = {key: io.read_parquet(pair / f"pairs_{key}.parquet") for key in results["pair_summary"]}
    figures.multiplicity(pairs, layout.FIGURES / "multiplicity.pdf")
