"""The sensitivity grid in the manuscript: its table, its figure and the sentences on how the scores move."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from universality.report.figures import PALETTE, STYLE, TEXT_WIDTH_IN, save_pdf
from universality.report.latex import fmt, fmt_share, group_row, table_row, tabular
from universality.sensitivity.variants import DIRECTIONS, GROUPS

RULE_NAMES = {
    "unique_partner": "unique partner",
    "mutual_nn": "mutual NN",
    "assignment": "assignment",
    "paper_first_occurrence": "first B per A",
}
SIGNIFICANT = 0.05  # size-matched p at or below this counts as a significant layer pair in the table


def _settings(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(group, value) of every variant, in the grid's order."""
    return list(dict.fromkeys((record["group"], record["value"]) for record in records))


def _cells(records: list[dict[str, Any]], group: str, value: str) -> list[dict[str, Any]]:
    return [record for record in records if record["group"] == group and record["value"] == value]


def _observed(record: dict[str, Any], metric: str) -> float:
    return record[metric]["observed"] if record["status"] == "ok" and record[metric]["observed"] is not None else np.nan


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(finite)) if finite else None


def _value_label(group: str, value: str) -> str:
    return {"rule": RULE_NAMES, "direction": DIRECTIONS}.get(group, {}).get(value, value)


def _prose_label(group: str, value: str) -> str:
    """A setting as running text: no math, e.g. "r threshold 0.3", "direction A to B"."""
    setting = {"b_to_a": "B to A", "a_to_b": "A to B"}[value] if group == "direction" else _value_label(group, value)
    return f"{GROUPS[group].replace('$', '')} {setting}"


def _summary(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the layer pairs of one variant, and how many layer pairs its RSA is significant in."""
    scored = [cell for cell in cells if cell["status"] == "ok"]
    return {
        "n": _median([cell["n"] for cell in cells]),
        "kept": _median([cell["kept_pairs"] for cell in cells]),
        "agreement": _median([cell["partner_agreement"] for cell in cells]),
        "svcca": _median([_observed(cell, "svcca") for cell in cells]),
        "rsa": _median([_observed(cell, "rsa") for cell in cells]),
        "rsa_effect": _median([cell["rsa"]["size_matched"]["effect"] for cell in scored]),
        "significant": sum(1 for cell in scored if (cell["rsa"]["size_matched"]["p"] or 1.0) <= SIGNIFICANT),
        "layer_pairs": len(cells),
        "scored": len(scored),
    }


SENSITIVITY_HEAD = [["", "", "", "same", "", "", "", "", ""],  # a wide header over two lines, so the table fits the text width
                    ["setting", "kept", "1-1 $n$", "partner", "scored", "SVCCA", "RSA", "effect", f"$p \\le {SIGNIFICANT:g}$"]]  # fmt: skip


def _variant_row(records: list[dict[str, Any]], group: str, value: str) -> str:
    cells = _cells(records, group, value)
    s = _summary(cells)
    setting = _value_label(group, value) + ("$^\\ast$" if cells[0]["baseline"] else "")
    return table_row([setting, fmt(s["kept"], 0), fmt(s["n"], 0), "--" if s["agreement"] is None else fmt_share(s["agreement"]),
                      f"{s['scored']} of {s['layer_pairs']}", fmt(s["svcca"]), fmt(s["rsa"]), fmt(s["rsa_effect"]), str(s["significant"])])  # fmt: skip


def sensitivity_table(records: list[dict[str, Any]]) -> str:
    """Per variant, under a group row per choice: medians over the layer pairs of kept pairs, 1-1 n and partners kept; the layer pairs
    with enough pairs to score; medians over those of SVCCA, RSA and RSA's effect; the layer pairs whose RSA is significant."""
    settings = _settings(records)
    body = []
    for group in dict.fromkeys(group for group, _ in settings):
        body.append(group_row(GROUPS[group], len(SENSITIVITY_HEAD[-1])))
        body += [_variant_row(records, group, value) for g, value in settings if g == group]
    return tabular("l" + "r" * (len(SENSITIVITY_HEAD[-1]) - 1), [table_row(line) for line in SENSITIVITY_HEAD], body, long=True)


def sensitivity_figure(records: list[dict[str, Any]], path) -> None:
    """Per choice (columns): the 1-1 n, SVCCA and RSA (rows) of every layer pair (lines) at each setting; the paper's setting shaded."""
    rows = {"n": "1-1 pairs $n$", "svcca": "SVCCA", "rsa": "RSA"}
    groups = list(dict.fromkeys(record["group"] for record in records))
    layer_pairs = list(dict.fromkeys((record["layer_a"], record["layer_b"]) for record in records))
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            len(rows), max(len(groups), 1), figsize=(TEXT_WIDTH_IN, 4.2), layout="constrained", sharey="row", squeeze=False
        )
        for column, group in enumerate(groups):
            values = [value for g, value in _settings(records) if g == group]
            x = np.arange(len(values))
            for row, (metric, label) in enumerate(rows.items()):
                axis = axes[row, column]
                for colour, (layer_a, layer_b) in zip(PALETTE, layer_pairs, strict=False):
                    cells = [
                        next(c for c in _cells(records, group, value) if (c["layer_a"], c["layer_b"]) == (layer_a, layer_b))
                        for value in values
                    ]
                    y = [cell["n"] if metric == "n" else _observed(cell, metric) for cell in cells]
                    axis.plot(x, y, "o-", color=colour, markersize=2.5, linewidth=1, label=f"{layer_a} / {layer_b}")
                    for position, cell in zip(x, cells, strict=True):
                        if cell["baseline"]:
                            axis.axvspan(position - 0.3, position + 0.3, color="0.9", linewidth=0, zorder=0)
                axis.set_xticks(x, [_value_label(group, value) for value in values] if row == len(rows) - 1 else [], rotation=60)
                if metric == "n":
                    axis.set_yscale("log")
                if column == 0:
                    axis.set_ylabel(label)
                if row == 0:
                    axis.set_title(GROUPS[group])
        handles, labels = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), frameon=False, title="layers A / B")
        save_pdf(figure, path)


def _extreme(records: list[dict[str, Any]], metric: str) -> tuple[tuple[str, float], tuple[str, float]]:
    medians = []
    for group, value in _settings(records):
        s = _summary(_cells(records, group, value))
        scored = f", scored in {s['scored']} of {s['layer_pairs']} layer pairs" if s["scored"] < s["layer_pairs"] else ""
        if s[metric] is not None:
            medians.append((_prose_label(group, value) + scored, s[metric]))
    return min(medians, key=lambda item: item[1]), max(medians, key=lambda item: item[1])


def _count_sentence(comparative: str, settings: list[str]) -> str:
    if not settings:
        return f"No setting makes {comparative.lower()} layer pairs significant."
    return f"{comparative} layer pairs are significant under {len(settings)} setting{'s' if len(settings) > 1 else ''} ({'; '.join(settings)})."


def sensitivity_macros(records: list[dict[str, Any]]) -> dict[str, str]:
    """Numbers and sentences on the grid (prefix `sens-`): the range of the median RSA, where significance holds, token convergence."""
    if not records:
        return {"sens-variants": "0", "sens-summary": "The sensitivity grid was not run on this comparison."}
    settings = _settings(records)
    baseline = _summary([r for r in records if r["baseline"] and r["group"] == "rule"])
    (low_name, low), (high_name, high) = _extreme(records, "rsa")
    total = baseline["layer_pairs"]
    significant = {(g, v): _summary(_cells(records, g, v))["significant"] for g, v in settings}
    lost = [f"{_prose_label(g, v)}: {count}" for (g, v), count in significant.items() if count < baseline["significant"]]
    gained = [f"{_prose_label(g, v)}: {count}" for (g, v), count in significant.items() if count > baseline["significant"]]
    macros = {"sens-variants": str(len(settings))}
    macros["sens-summary"] = (
        f"Over the {len(settings)} settings the median RSA of the one-to-one pairs ranges from {fmt(low)} ({low_name}) to {fmt(high)} "
        f"({high_name}); with the setting of the paper it is {fmt(baseline['rsa'])}, significant against the size-matched null in "
        f"{baseline['significant']} of {total} layer pairs. " + _count_sentence("Fewer", lost) + " " + _count_sentence("More", gained)
    )  # fmt: skip
    fractions = [(v, _summary(_cells(records, g, v))["agreement"]) for g, v in settings if g == "tokens" and v != "all"]
    if fractions:
        kept = ", ".join(f"{fmt_share(share)} with {value}" for value, share in fractions if share is not None)
        macros["sens-tokens"] = (f"Paired on a prefix of the analysis windows, the median share of B features that keep the partner they have "
                                 f"with all tokens is {kept} of the windows.")  # fmt: skip
    return macros
