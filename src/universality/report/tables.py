"""The manuscript's scored tables, rendered from the results files at the body font.

Each function returns a whole generated table (see `latex.tabular`); the manuscript keeps the
float, caption and label of a short table and passes caption and label to a long one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from universality.layout import layer_pair_key
from universality.pairing.filters import FILTERS
from universality.report.latex import fmt, fmt_p, fmt_share, group_row, latex_text, layers_cell, spanning_head, table_row, tabular
from universality.similarity.metrics import METRICS
from universality.similarity.nulls import NULLS

METRIC_LABELS = {
    "svcca": "SVCCA", "pc1_corr": "pc1\\_corr", "rsa": "RSA", "rsa_paper": "RSA (paper)", "cka": "CKA",
    "cka_debiased": "CKA (debiased)", "procrustes": "Procrustes",
}  # fmt: skip
RULE_HEADERS = {"unique_partner": "unique", "mutual_nn": "mutual NN", "assignment": "assignment", "paper_first_occurrence": "first B per A"}
HEADLINE = ("svcca", "rsa")
INFERENCE_GROUPS = {"$p$ under the null": ["row", "group", "size"], "": ["$q$"]}  # the columns of `_inference_cells`
INFERENCE_COLUMNS = sum(map(len, INFERENCE_GROUPS.values()))


def _inference_cells(scores: dict[str, Any]) -> list[str]:
    """$p$ under each null ("--": a status instead of a value, see results.json) and the size-matched $q$."""
    return [fmt_p(scores[null]["p"]) for null in NULLS] + [fmt_p(scores["size_matched"].get("q"))]


def _status_row(lead: list[str], record: dict[str, Any], columns: int) -> str:
    """A row whose scores are missing: the cells of `lead`, then the record's status across the remaining columns."""
    return table_row([*lead, f"\\multicolumn{{{columns - len(lead)}}}{{c}}{{{record['status']}}}"])


def _layer_groups(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(layers_cell(record), []).append(record)
    return groups


RULE_SYMBOLS = {"unique_partner": "u", "mutual_nn": "m", "assignment": "a", "paper_first_occurrence": "f"}  # $n_u$, ...


def one_to_one_table(records: list[dict[str, Any]], pair_summary: dict[str, Any], rule: str) -> str:
    """Main body: per layer pair, SVCCA and RSA of the 1-1 pairs (rule `rule`) with size-matched chance, $p$ and $q$ (the other
    nulls: appendix), and in one last column the size of the 1-1 set under each other rule ($n_u$ / $n_m$ / $n_f$)."""
    others = [other for other in RULE_HEADERS if other != rule]
    sizes_head = " / ".join(f"$n_{RULE_SYMBOLS[other]}$" for other in others)
    groups = {METRIC_LABELS[m]: ["score", "chance", "$p$", "$q$"] for m in HEADLINE} | {"other rules": [sizes_head]}
    head = spanning_head(["Layers A / B", "$n$"], groups)
    body = []
    for record in records:
        lead = [layers_cell(record), str(record["n"])]
        sizes = " / ".join(str(pair_summary[layer_pair_key(record["layer_a"], record["layer_b"])]["one_to_one"][o]["n"]) for o in others)
        if record["status"] != "ok":
            body.append(table_row([*lead, f"\\multicolumn{{{4 * len(HEADLINE)}}}{{c}}{{{record['status']}}}", sizes]))
            continue
        cells = []
        for metric in HEADLINE:
            size = record[metric]["size_matched"]
            cells += [fmt(record[metric]["observed"]), fmt(size["null_mean"]), fmt_p(size["p"]), fmt_p(size.get("q"))]
        body.append(table_row([*lead, *cells, sizes]))
    return tabular("lr" + "rrrr" * len(HEADLINE) + "c", head, body)


def bucket_table(records: list[dict[str, Any]], metric: str) -> str:
    """Appendix, one metric: every multiplicity bucket of every layer pair, cumulative and ranges, with chance, effect, $p$ and $q$."""
    k = ["$k_A/k_B$"] if metric == "svcca" else []
    lead_columns = ["bucket", "$n$", "$n_A$", *k, "score", "chance", "effect"]
    head, columns = spanning_head(lead_columns, INFERENCE_GROUPS), len(lead_columns) + INFERENCE_COLUMNS
    body = []
    for layers, group in _layer_groups(records).items():
        body.append(group_row(f"Layers {layers}", columns))
        for record in group:
            lead = [record["label"], str(record["n"]), str(record["distinct_a"])]
            if record["status"] != "ok":
                body.append(_status_row(lead, record, columns))
                continue
            scores = record[metric]
            dims = [f"{scores['k_x']}/{scores['k_y']}"] if k else []
            size = scores["size_matched"]
            body.append(
                table_row(lead + dims + [fmt(scores["observed"]), fmt(size["null_mean"]), fmt(size["effect"]), *_inference_cells(scores)])
            )
    return tabular("l" + "r" * (columns - 1), head, body, long=True)


def metric_table(records: list[dict[str, Any]]) -> str:
    """Appendix: every metric of every scored 1-1 set, with its interval, chance, effect, $p$ under each null and $q$."""
    lead_columns = ["metric", "score", "interval", "chance", "effect"]
    head, columns = spanning_head(lead_columns, INFERENCE_GROUPS), len(lead_columns) + INFERENCE_COLUMNS
    body = []
    for record in records:
        if record["status"] != "ok":
            continue
        body.append(group_row(f"Layers {layers_cell(record)}, $n = {record['n']}$", columns))
        for metric in METRICS:
            scores = record[metric]
            interval = "--" if scores["ci"] is None else f"[{fmt(scores['ci'][0], 2)}, {fmt(scores['ci'][1], 2)}]"
            size = scores["size_matched"]
            body.append(table_row([METRIC_LABELS[metric], fmt(scores["observed"]), interval, fmt(size["null_mean"]), fmt(size["effect"]),
                                   *_inference_cells(scores)]))  # fmt: skip
    return tabular("l" + "r" * (columns - 1), head, body, long=True)


def pc1_table(records: list[dict[str, Any]]) -> str:
    """Appendix: true SVCCA (with the kept dimensions) beside pc1_corr, each with its size-matched chance and $p$."""
    lead_columns = ["Layers A / B", "$n$"]
    groups = {"SVCCA": ["score", "$k_A/k_B$", "chance", "$p$"], METRIC_LABELS["pc1_corr"]: ["score", "chance", "$p$"]}
    columns = len(lead_columns) + sum(map(len, groups.values()))
    body = []
    for record in records:
        lead = [layers_cell(record), str(record["n"])]
        if record["status"] != "ok":
            body.append(_status_row(lead, record, columns))
            continue
        svcca, pc1 = record["svcca"], record["pc1_corr"]
        cells = [fmt(svcca["observed"]), f"{svcca['k_x']}/{svcca['k_y']}", fmt(svcca["size_matched"]["null_mean"]), fmt_p(svcca["size_matched"]["p"]),
                 fmt(pc1["observed"]), fmt(pc1["size_matched"]["null_mean"]), fmt_p(pc1["size_matched"]["p"])]  # fmt: skip
        body.append(table_row(lead + cells))
    return tabular("l" + "r" * (columns - 1), spanning_head(lead_columns, groups), body)


def planted_table(planted: dict[str, list[dict[str, Any]]]) -> str:
    """Appendix: per planted comparison and layer pair, the 1-1 pairs, how many join recoveries of the same planted feature,
    and SVCCA and RSA against the size-matched null."""
    counts = ["Layers A / B", "$n$", "correct", "both rec."]
    head = spanning_head(counts, {METRIC_LABELS[m]: ["score", "chance", "$p$"] for m in HEADLINE})
    columns = len(counts) + 3 * len(HEADLINE)
    body = []
    for role, records in planted.items():
        body.append(group_row(role.replace("planted_", "").capitalize() + " geometry", columns))
        for record in records:
            recovery = record["planted"]
            lead = [layers_cell(record), str(record["n"]), str(recovery["correct"]), str(recovery["both_recovered"])]
            if record["status"] != "ok":
                body.append(_status_row(lead, record, columns))
                continue
            cells = [
                c
                for m in HEADLINE
                for c in (fmt(record[m]["observed"]), fmt(record[m]["size_matched"]["null_mean"]), fmt_p(record[m]["size_matched"]["p"]))
            ]
            body.append(table_row(lead + cells))
    return tabular("l" + "r" * (columns - 1), head, body)


def filter_table(pair_summary: dict[str, Any]) -> str:
    """Per layer pair: features below the minimum support (not paired), pairs, removals by each filter (in order), kept pairs."""
    lead_columns = ["Layers A / B", "rare A / B", "pairs"]
    groups = {"removed by": [name.replace("_", "-") for name in FILTERS], "": ["kept"]}
    body = []
    for summary in pair_summary.values():
        filters = summary["filters"]
        removed = [str(filters[name]["removed"]) if filters[name]["enabled"] else "off" for name in FILTERS]
        body.append(
            table_row(
                [layers_cell(summary), f"{summary['rare_a']} / {summary['rare_b']}", str(filters["pairs"]), *removed, str(filters["kept"])]
            )
        )
    return tabular("l" + "r" * (len(lead_columns) + len(FILTERS)), spanning_head(lead_columns, groups), body)


def rule_size_table(pair_summary: dict[str, Any]) -> str:
    """Per layer pair: the size of the 1-1 set under each rule, and the share of paired B features with a unique or mutual partner."""
    header = ["Layers A / B", *RULE_HEADERS.values(), "unique share", "mutual share"]
    body = [table_row([layers_cell(s), *[str(s["one_to_one"][rule]["n"]) for rule in RULE_HEADERS], fmt_share(s["unique_partner_share"]),
                       fmt_share(s["mutual_share"])]) for s in pair_summary.values()]  # fmt: skip
    return tabular("l" + "r" * (len(header) - 1), [table_row(header)], body)


def hub_table(hub_tables: dict[str, list[dict[str, Any]]], per_layer_pair: int) -> str:
    """The most-mapped A features of each layer pair with their top-activating context."""
    header = ["A feature", "$m$", "mean $r$", "top-activating context (token in brackets)"]
    body = []
    for key, hubs in hub_tables.items():
        layer_a, layer_b = key[1:].split("_L")
        body.append(group_row(f"Layers {layer_a} / {layer_b}", len(header)))
        for hub in hubs[:per_layer_pair]:
            context = hub.get("contexts", [])
            text = latex_text(context[0]).replace("[[", "\\textbf{[").replace("]]", "]}") if context else "(no text)"
            body.append(table_row([str(hub["a_feature"]), str(hub["multiplicity"]), fmt(hub["mean_r"], 2), text]))
    return tabular("rrrp{3.9in}", [table_row(header)], body, long=True)


def summary_metrics(records: list[dict[str, Any]], pair_summary: dict[str, Any]) -> dict[str, Any]:
    """One comparison in a few numbers with the same keys for every comparison, so that `dvc metrics show` prints one
    narrow row per comparison: layer pairs, how many were scored, the medians over those of n and scores, and the
    scale of its pairings at their worst layer pair (the default's targets, README "Scale"): `dead`, the largest
    share of dead latents of an SAE; `n_per_d`, the smallest 1-1 set over the larger d_model; `unique`, the fewest
    unique-partner B features before the filters; `max_m`, the smallest largest multiplicity over B's pairable
    features; `mnn`, the smallest share of either side's pairable features that are mutual nearest
    neighbours with r >= 0.5 (for the skyline: how far two SAE seeds agree)."""
    scored = [record for record in records if record["status"] == "ok"]
    layers = list(pair_summary.values())

    def median(values: list[float]) -> float | None:
        return float(np.median(values)) if values else None

    return {
        "layer_pairs": len(records),
        "scored": len(scored),
        "n": median([record["n"] for record in scored]),
        **{metric: median([record[metric]["observed"] for record in scored]) for metric in HEADLINE},
        "dead": max(max(s["dead_a"] / s["n_features_a"], s["dead_b"] / s["n_features_b"]) for s in layers),
        "n_per_d": min(record["n"] / pair_summary[layer_pair_key(record["layer_a"], record["layer_b"])]["d_model"] for record in records),
        "unique": min(s["unique_partners"] for s in layers),
        "max_m": min(s["max_multiplicity"] / s["live_b"] for s in layers),
        "mnn": min(s["mutual_strong"] / max(s["live_a"], s["live_b"]) for s in layers),
    }
