"""The collapse analysis in the manuscript: bucket, strata and hub tables, the verdict sentences, the curves figure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from universality.collapse.matched import entry_scores
from universality.collapse.verdict import VERDICT_METRICS
from universality.params.schema import Collapse
from universality.report.latex import fmt, group_row, layers_cell, series, spanning_head, table_row, tabular
from universality.report.tables import METRIC_LABELS

METRICS = {metric: METRIC_LABELS[metric] for metric in VERDICT_METRICS}
EXPLANATION_NAMES = {"small_n": "small-n inflation", "duplication": "duplicated rows", "weak_pairs": "weak pairs on generic hubs",
                     "splitting": "feature splitting", "collapse": "information collapse"}  # fmt: skip


def _field(entry: dict, metric: str, field: str = "mean") -> str:
    scores = entry_scores(entry, metric)
    return "--" if scores is None else fmt(scores[field])


def _per_layer_pair(layer_pairs: list[dict[str, Any]], columns: int, rows: Callable[[dict[str, Any]], list[str]]) -> list[str]:
    """Table body: each layer pair's `rows` under a group row naming the pair."""
    return [line for record in layer_pairs for line in (group_row(f"Layers {layers_cell(record)}", columns), *rows(record))]


def _bucket_table(layer_pairs: list[dict[str, Any]], head: list[str], columns: int, cells: Callable[[dict[str, Any]], list[str]]) -> str:
    """A long table of every layer pair's buckets: a bucket's multiplicity range, then its `cells`."""

    def rows(record: dict[str, Any]) -> list[str]:
        return [table_row([bucket["label"], *cells(bucket)]) for bucket in record["buckets"]]

    return tabular("l" + "r" * (columns - 1), head, _per_layer_pair(layer_pairs, columns, rows), long=True)


COVERAGE_COLUMNS = ["$m$", "pairs", "distinct A", "cov.\\ B", "eff.\\ partners", "median $r$", "$r$ 10--90\\%"]
SCORE_COLUMNS = ["raw", "matched", "chance", "dedup."]


def _coverage_cells(bucket: dict[str, Any]) -> list[str]:
    stats, r = bucket["collapse"], bucket["strength"].get("r")
    return [str(bucket["pairs"]), str(bucket["distinct_a"]), fmt(stats["coverage_b"]), fmt(stats["effective_partners"], 1),
            fmt(r["median"] if r else None), f"{fmt(r['q10'], 2)}--{fmt(r['q90'], 2)}" if r else "--"]  # fmt: skip


def _score_cells(bucket: dict[str, Any]) -> list[str]:
    cells = []
    for metric in METRICS:
        raw = bucket["raw"][metric] if bucket["raw"] else None
        cells += [
            fmt(raw),
            _field(bucket["matched"], metric),
            _field(bucket["matched"], metric, "chance_high"),
            _field(bucket["deduplicated_best"], metric),
        ]
    return cells


def bucket_coverage_table(layer_pairs: list[dict[str, Any]]) -> str:
    """Per layer pair and disjoint bucket: pairs, distinct A partners, coverage of B, effective partners, median r and its 10-90% range."""
    return _bucket_table(layer_pairs, [table_row(COVERAGE_COLUMNS)], len(COVERAGE_COLUMNS), _coverage_cells)


def bucket_score_table(layer_pairs: list[dict[str, Any]]) -> str:
    """Per layer pair and disjoint bucket: each metric raw, at matched n, the top of its chance band, and deduplicated."""
    head = spanning_head(["$m$"], {label: SCORE_COLUMNS for label in METRICS.values()})
    return _bucket_table(layer_pairs, head, 1 + len(SCORE_COLUMNS) * len(METRICS), _score_cells)


def strata_table(layer_pairs: list[dict[str, Any]]) -> str:
    """Per layer pair and bucket: SVCCA / RSA within each stratum of r; per layer pair, each stratum's common size."""
    strata = layer_pairs[0]["buckets"][0]["strata"] if layer_pairs else []
    head = spanning_head(["$m$"], {" / ".join(METRICS.values()): [f"${s['low']:g} < r \\le {s['high']:g}$" for s in strata]})

    def rows(record: dict[str, Any]) -> list[str]:
        scored = [table_row([bucket["label"], *[" / ".join(_field(stratum, metric) for metric in METRICS) for stratum in bucket["strata"]]])
                  for bucket in record["buckets"]]  # fmt: skip
        return [*scored, table_row(["common $n$", *[str(n or "--") for n in record["common_sizes"]["strata"]]])]

    return tabular("l" + "r" * len(strata), head, _per_layer_pair(layer_pairs, 1 + len(strata), rows), long=True)


def _hub_table(
    layer_pairs: list[dict[str, Any]], per_layer_pair: int, spec: str, head: list[str], cells: Callable[[dict[str, Any]], list[str]]
) -> str:
    """The most-mapped A features of every layer pair: the A feature, then its `cells` under `head`."""

    def rows(record: dict[str, Any]) -> list[str]:
        return [table_row([str(hub["a_feature"]), *cells(hub)]) for hub in record["hubs"][:per_layer_pair]]

    return tabular("r" + spec, [table_row(["A feature", *head])], _per_layer_pair(layer_pairs, 1 + len(head), rows), long=True)


def _profile_cells(hub: dict[str, Any]) -> list[str]:
    return [str(hub["multiplicity"]), fmt(hub["density_ratio"], 1), fmt(hub["decoder_norm"], 2), fmt(hub["mean_r"], 2),
            str(hub["reverse_multiplicity"]), hub["signature"]]  # fmt: skip


def _children_cells(hub: dict[str, Any]) -> list[str]:
    return [fmt(hub["containment"], 2), fmt(hub["containment_lift"], 1), fmt(hub["sibling_jaccard"], 2), fmt(hub["sibling_cosine"], 2)]


def hub_profile_table(layer_pairs: list[dict[str, Any]], per_layer_pair: int) -> str:
    """The hubs: multiplicity, density over the median A feature's, decoder norm, children's mean r, reverse multiplicity, signature."""
    head = ["$m$", "density$\\times$", "$\\|d\\|$", "mean $r$", "reverse $m$", "signature"]
    return _hub_table(layer_pairs, per_layer_pair, "rrrrrl", head, _profile_cells)


def hub_children_table(layer_pairs: list[dict[str, Any]], per_layer_pair: int) -> str:
    """How the hubs' B children fire: share of their tokens inside the hub's and its lift, sibling Jaccard and decoder cosine."""
    return _hub_table(layer_pairs, per_layer_pair, "rrrr", ["contained", "lift", "sibling $J$", "sibling cos"], _children_cells)


def _sizes(layer_pairs: list[dict[str, Any]], key: str, unit: str) -> str:
    sizes = sorted({record["common_sizes"][key] for record in layer_pairs if record["common_sizes"][key] is not None})
    if not sizes:
        return "none (no bucket large enough)"
    return f"{sizes[0]} {unit}" if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]} {unit}"


TESTED_EXPLANATIONS = ("small_n", "duplication", "weak_pairs", "collapse")
UNTESTABLE = {
    "small_n": "No layer pair has both ends of the {label} curve at a common size of at least {min_n} pairs, so small-n inflation is untestable here.",
    "duplication": "No layer pair has both deduplicated ends of the {label} curve at a common size of at least {min_n} partners, so duplication is untestable here.",
    "weak_pairs": "No layer pair has both ends of a {label} curve within one stratum of r, so weak pairs are untestable here.",
    "collapse": "Without a {label} difference at matched n, information collapse is untestable here.",
}
TESTED = {
    "small_n": "At a matched n of {matched_n} the {label} difference between the one-to-one bucket and the other end is robust (their "
               "intervals apart) in {robust} of {tested} layer pairs, {reading}.",
    "duplication": "With one row per A partner (its best-correlated B feature), that matched difference keeps a median {median_kept} "
                   "of its size (0: gone, 1: unchanged) over {tested_pairs}: {reading}.",
    "weak_pairs": "Median r is lower at the many-to-one end in {r_falls} of {tested} layer pairs, and within strata of r the matched "
                  "{label} difference keeps a median {median_kept} of its size (over {strata_tested_pairs}): {reading}.",
    "collapse": "A robust rise of {label} at matched n that deduplication and the strata leave at least half of appears in {consistent} "
                "of {tested} layer pairs, {reading}.",
}  # fmt: skip
READINGS = {  # (supported, not supported)
    "small_n": ("so small-n inflation accounts for it", "so small-n inflation does not account for it"),
    "duplication": ("duplicated rows explain it", "duplicated rows do not explain it"),
    "weak_pairs": ("weak pairs explain it", "weak pairs do not explain it"),
    "collapse": ("what information collapse predicts", "too rarely for information collapse to be the explanation"),
}


def _layer_pairs(count: int | None) -> str:
    return f"{count} layer pair" + ("" if count == 1 else "s")


def _kept(removed: float | None) -> str:
    return fmt(None if removed is None else 1.0 - removed, 2)


def _sentences(label: str, v: dict[str, Any], min_n: int, matched_n: str) -> dict[str, str]:
    """One sentence per explanation for one metric, each stating the numbers its verdict rests on, and the conclusion."""
    premise = v["premise"]
    out = {"premise": f"{label} is higher on the one-to-one bucket than on the least one-to-one bucket scored in "
                      f"{premise['rising']} of {premise['layer_pairs']} layer pairs (raw scores)."}  # fmt: skip
    for explanation in TESTED_EXPLANATIONS:
        numbers = v[explanation]
        fields = numbers | {"label": label, "min_n": min_n, "matched_n": matched_n, "median_kept": _kept(numbers.get("median_removed")),
                            "tested_pairs": _layer_pairs(numbers.get("tested")), "strata_tested_pairs": _layer_pairs(numbers.get("strata_tested"))}  # fmt: skip
        if numbers["verdict"] == "untestable":
            out[explanation] = UNTESTABLE[explanation].format(**fields)
        else:
            out[explanation] = TESTED[explanation].format(**fields, reading=READINGS[explanation][numbers["verdict"] != "supported"])
    supported = [EXPLANATION_NAMES[e] for e in TESTED_EXPLANATIONS if v[e]["verdict"] == "supported"]
    untestable = [EXPLANATION_NAMES[e] for e in TESTED_EXPLANATIONS if v[e]["verdict"] == "untestable"]
    verdict_text = (
        f"For {label} the data support {series(supported)}"
        if supported
        else f"For {label} the data support none of the explanations tested"
    )
    if 2 * premise["rising"] <= premise["layer_pairs"]:
        verdict_text = (f"{label} does not rise as pairs become one-to-one here (it rises in {premise['rising']} of {premise['layer_pairs']} "
                        f"layer pairs); of the explanations of its difference, the data support {series(supported) or 'none'}")  # fmt: skip
    out["conclusion"] = verdict_text + (f"; {series(untestable)} could not be tested." if untestable else ".")
    return out


def collapse_macros(results: dict[str, Any], settings: Collapse) -> dict[str, str]:
    """Numbers and generated sentences of the collapse analysis (prefix `collapse-`)."""
    layer_pairs, verdicts, min_n = results["layer_pairs"], results["verdict"], settings.min_n
    macros = {"collapse-matched-n": _sizes(layer_pairs, "matched", "pairs"),
              "collapse-dedup-n": _sizes(layer_pairs, "deduplicated", "distinct partners"),
              "collapse-min-n": str(min_n), "collapse-draws": str(settings.draws), "collapse-min-lift": f"{settings.min_lift:g}"}  # fmt: skip
    for metric, label in METRICS.items():
        for key, sentence in _sentences(label, verdicts[metric], min_n, macros["collapse-matched-n"]).items():
            macros[f"collapse-{metric}-{key.replace('_', '-')}"] = sentence
    splitting = next(iter(verdicts.values()))["splitting"]
    macros["collapse-hubs"] = str(splitting["hubs"])
    if not splitting["hubs"]:
        macros["collapse-splitting"] = "No hub was analysed, so feature splitting is untestable here."
        return macros
    macros["collapse-splitting"] = (f"Of the {splitting['hubs']} hubs analysed, {splitting['split']} carry the split signature and "
                                    f"{splitting['catch_all']} the catch-all signature, so feature splitting "
                                    f"{'is' if splitting['verdict'] == 'supported' else 'is not'} the common case among hubs.")  # fmt: skip
    return macros
