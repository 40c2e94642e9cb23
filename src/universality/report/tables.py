"""The manuscript's tables, rendered from the results files as booktabs `tabular` bodies.

Tables are whole `tabular` environments; the manuscript keeps the float, caption and label.
"""

from __future__ import annotations

from typing import Any

from universality.pairing.filters import FILTERS
from universality.pairing.subsets import ONE_TO_ONE_RULES
from universality.report.latex import GENERATED_HEADER, fmt, fmt_p, latex_text, layers_cell, table_row
from universality.similarity.nulls import NULLS
from universality.similarity.metrics import METRICS


def _p_triple(scores: dict[str, Any]) -> str:
    return " / ".join(fmt_p(scores[null]["p"]) for null in NULLS)  # "--": the null has a status (see results.json)


def _metric_cells(record: dict[str, Any]) -> list[str]:
    svcca, rsa = record["svcca"], record["rsa"]
    chance = [f"{fmt(m['size_matched']['null_mean'])} $\\pm$ {fmt(m['size_matched']['null_sd'])}" for m in (svcca, rsa)]
    return [fmt(svcca["observed"]), f"{svcca['k_x']}/{svcca['k_y']}", chance[0], _p_triple(svcca), fmt(rsa["observed"]), chance[1], _p_triple(rsa)]


_METRIC_HEADER = "SVCCA & $k_A/k_B$ & chance & $p$ (row / group / size) & RSA & chance & $p$ (row / group / size)"


def _status_cells(record: dict[str, Any]) -> list[str]:
    """The metric cells of a row: scores, or one cell saying why there are none."""
    if record["status"] == "ok":
        return _metric_cells(record)
    return [f"\\multicolumn{{7}}{{c}}{{{record['status']}}}"]


def one_to_one_table(records: list[dict[str, Any]]) -> str:
    lines = [GENERATED_HEADER, "\\begin{tabular}{lrrrrrrrr}\n\\toprule\n"]
    lines.append(table_row(["Layers A / B", "$n$", _METRIC_HEADER]))
    lines.append("\\midrule\n")
    for record in records:
        lines.append(table_row([layers_cell(record), str(record["n"]), *_status_cells(record)]))
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)


def bucket_table(records: list[dict[str, Any]]) -> str:
    lines = [GENERATED_HEADER, "\\begin{tabular}{llrrrrrrrrr}\n\\toprule\n"]
    lines.append(table_row(["Layers", "Bucket", "$n$", "distinct A", _METRIC_HEADER]))
    previous_kind = None
    for record in records:
        if record["kind"] != previous_kind:
            lines.append("\\midrule\n")
            previous_kind = record["kind"]
        lines.append(table_row([layers_cell(record), record["label"], str(record["n"]), str(record["distinct_a"]), *_status_cells(record)]))
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)


METRIC_LABELS = {
    "svcca": "SVCCA", "pc1_corr": "pc1\\_corr (paper's ``SVCCA'')", "rsa": "RSA (cosine, Pearson)",
    "rsa_paper": "RSA (paper: centred, Spearman)", "cka": "CKA", "cka_debiased": "CKA (debiased)", "procrustes": "Procrustes",
}  # fmt: skip


def metric_table(records: list[dict[str, Any]]) -> str:
    """Every metric of every scored record: observed, interval, chance-corrected effect, p per null, BH q (size-matched)."""
    lines = [GENERATED_HEADER, "\\begin{tabular}{llrrrrrrr}\n\\toprule\n"]
    lines.append(table_row(["Layers", "metric", "observed", "interval", "chance", "effect", "$p$ row / group / size", "$q$ size", "$n$"]))
    for record in records:
        if record["status"] != "ok":
            continue
        lines.append("\\midrule\n")
        for metric in METRICS:
            scores = record[metric]
            interval = "--" if scores["ci"] is None else f"[{fmt(scores['ci'][0], 2)}, {fmt(scores['ci'][1], 2)}]"
            size = scores["size_matched"]
            lines.append(table_row([layers_cell(record), METRIC_LABELS[metric], fmt(scores["observed"]), interval, fmt(size["null_mean"]),
                               fmt(size["effect"]), _p_triple(scores), fmt_p(size["q"]), str(record["n"])]))  # fmt: skip
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)


def filter_table(pair_summary: dict[str, Any]) -> str:
    """Per layer pair: features below the minimum support (not paired), pairs, removals by each filter (in order),
    kept pairs, and each 1-1 rule's size."""
    rules = list(ONE_TO_ONE_RULES)
    lines = [GENERATED_HEADER, "\\begin{tabular}{l" + "r" * (3 + len(FILTERS) + len(rules)) + "}\n\\toprule\n"]
    lines.append(table_row(["", "", "", "\\multicolumn{%d}{c}{removed by}" % len(FILTERS), "", "\\multicolumn{%d}{c}{1-1 pairs}" % len(rules)]))
    lines.append(f"\\cmidrule(lr){{4-{3 + len(FILTERS)}}}\\cmidrule(lr){{{5 + len(FILTERS)}-{4 + len(FILTERS) + len(rules)}}}\n")
    filter_names = ["correlation", "non-concept", "held-out"]
    rule_names = ["unique", "mutual NN", "assignment", "first (paper)"]
    lines.append(table_row(["Layers A / B", "rare A / B", "pairs", *filter_names, "kept", *rule_names]))
    lines.append("\\midrule\n")
    for summary in pair_summary.values():
        filters = summary["filters"]
        removed = [str(filters[name]["removed"]) if filters[name]["enabled"] else "off" for name in FILTERS]
        sizes = [str(summary["one_to_one"][rule]["n"]) for rule in rules]
        rare = f"{summary['rare_a']} / {summary['rare_b']}"
        lines.append(table_row([layers_cell(summary), rare, str(filters["pairs"]), *removed, str(filters["kept"]), *sizes]))
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)


def hub_table(hub_tables: dict[str, list[dict[str, Any]]], per_layer_pair: int) -> str:
    """The most-mapped A features of each layer pair with their top-activating context."""
    lines = [GENERATED_HEADER, "\\begin{tabular}{lrrrp{3.4in}}\n\\toprule\n"]
    lines.append(table_row(["Layers A / B", "A feature", "$m$", "mean $r$", "top-activating context (token in brackets)"]))
    for key, hubs in hub_tables.items():
        lines.append("\\midrule\n")
        layer_a, layer_b = key[1:].split("_L")
        for hub in hubs[:per_layer_pair]:
            context = hub.get("contexts", [])
            text = latex_text(context[0]).replace("[[", "\\textbf{[").replace("]]", "]}") if context else "(no text)"
            lines.append(table_row([f"{layer_a} / {layer_b}", str(hub["a_feature"]), str(hub["multiplicity"]), fmt(hub["mean_r"], 2), text]))
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)
