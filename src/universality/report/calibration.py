"""The calibration in the manuscript: scores against skyline and floor and their spread across seeds (tables, figure), shuffled windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from universality.report.figures import PALETTE, STYLE, TEXT_WIDTH_IN, save_pdf
from universality.report.latex import fmt, fmt_p, group_row, layers_cell, table_row, tabular
from universality.report.tables import HEADLINE, METRIC_LABELS
from universality.similarity.metrics import METRICS


def _plus_minus(spread: dict[str, Any], digits: int = 3) -> str:
    if spread["mean"] is None:
        return "--"
    return fmt(spread["mean"], digits) + ("" if spread["sd"] is None else f" $\\pm$ {fmt(spread['sd'], digits)}")


def _calibrated(scores: dict[str, Any]) -> list[str]:
    """Score, seed mean $\\pm$ sd, skyline, floor, gap fraction."""
    return [
        fmt(scores["observed"]),
        _plus_minus(scores["seeds"]),
        fmt(scores["skyline"]),
        fmt(scores["floor"]),
        fmt(scores["gap_fraction"], 2),
    ]


def calibration_table(rows: list[dict[str, Any]]) -> str:
    """Main body: SVCCA and RSA of the 1-1 pairs with seed spread, skyline, floor and gap fraction, one row per layer pair and metric."""
    header = ["Layers A / B", "$n$", "metric", "score", "seeds", "skyline", "floor", "gap"]
    body = []
    for row in rows:
        for index, metric in enumerate(HEADLINE):
            lead = [layers_cell(row), str(row["n"])] if index == 0 else ["", ""]
            body.append(table_row([*lead, METRIC_LABELS[metric], *_calibrated(row["metrics"][metric])]))
    return tabular("lrlrrrrr", [table_row(header)], body)


def calibration_metric_table(rows: list[dict[str, Any]]) -> str:
    """Appendix: every metric with its seed spread and range, skyline, floor and gap fraction (also across seeds)."""
    header = ["metric", "score", "seeds", "range", "skyline", "floor", "gap", "gap, seeds"]
    body = []
    for row in rows:
        body.append(group_row(f"Layers {layers_cell(row)}", len(header)))
        for metric in METRICS:
            scores = row["metrics"][metric]
            seeds = scores["seeds"]
            # the seeds' range and the gaps across seeds to 2 decimals, as in the gap column: the table fits
            extent = "--" if seeds["mean"] is None else f"{fmt(seeds['min'], 2)}--{fmt(seeds['max'], 2)}"
            gap_seeds = _plus_minus(scores["gap_fraction_seeds"], 2)
            cells = _calibrated(scores)
            body.append(table_row([METRIC_LABELS[metric], *cells[:2], extent, *cells[2:], gap_seeds]))
    return tabular("lrrrrrrr", [table_row(header)], body, long=True)


def shuffled_table(rows: list[dict[str, Any]]) -> str:
    """The pairing-level null: pairs found and kept with B's windows shuffled, and the shuffled 1-1 set's scores."""
    header = ["Layers A / B", "pairs", "kept", "1-1", "SVCCA", "$p$ row", "RSA", "$p$ row"]
    body = []
    for row in rows:
        scores, p = row["scores"] or {}, row["p_row_shuffle"] or {}
        cells = [cell for m in HEADLINE for cell in (fmt(scores.get(m)), fmt_p(p.get(m)))]
        body.append(table_row([layers_cell(row), str(row["pairs"]), str(row["kept"]), str(row["one_to_one_n"]), *cells]))
    return tabular("lrrrrrrr", [table_row(header)], body)


def calibration_figure(rows: list[dict[str, Any]], path: Path) -> None:
    """Per layer pair and headline metric: the floor-to-skyline band, the seed runs' mean and sd, and the score."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(HEADLINE), figsize=(TEXT_WIDTH_IN, 2.2), layout="constrained", squeeze=False)
        x = np.arange(len(rows))
        for axis, metric in zip(axes[0], HEADLINE, strict=True):
            cells = [row["metrics"][metric] for row in rows]
            floor, skyline = (np.array([np.nan if c[k] is None else c[k] for c in cells]) for k in ("floor", "skyline"))
            axis.vlines(x, np.fmin(floor, skyline), np.fmax(floor, skyline), color="0.82", linewidth=9, label="floor to skyline")
            axis.scatter(x, skyline, marker="^", color=PALETTE[2], s=18, zorder=3, label="skyline (other SAE seed)")
            axis.scatter(x, floor, marker="v", color=PALETTE[1], s=18, zorder=3, label="floor (untrained B)")
            means = np.array([np.nan if c["seeds"]["mean"] is None else c["seeds"]["mean"] for c in cells])
            sds = np.array([0.0 if c["seeds"]["sd"] is None else c["seeds"]["sd"] for c in cells])
            axis.errorbar(
                x + 0.22, means, yerr=sds, fmt="none", ecolor=PALETTE[7], elinewidth=0.8, capsize=2, label="seed runs (mean $\\pm$ sd)"
            )
            observed = [np.nan if c["observed"] is None else c["observed"] for c in cells]
            axis.scatter(x, observed, marker="o", color=PALETTE[0], s=16, zorder=4, label="A vs. B (this paper)")
            axis.set_xticks(x, [layers_cell(row).replace(" ", "") for row in rows])
            axis.set_xlabel("layer pair (A / B)")
            axis.set_title(METRIC_LABELS[metric])
        handles, labels = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
        save_pdf(figure, path)


def _gap_clause(label: str, cells: list[dict[str, Any]]) -> str:
    """The range of the gap fractions of one metric, or why there is none."""
    fractions = [cell["gap_fraction"] for cell in cells if cell["gap_fraction"] is not None]
    low, high = (fmt(min(fractions), 2), fmt(max(fractions), 2)) if fractions else (None, None)
    if low != high:
        return f"for {label} it lies between {low} and {high}"
    if fractions:
        pairs = "the one layer pair" if len(fractions) == 1 else f"all {len(fractions)} layer pairs"
        return f"for {label} it is {low} on {pairs} with a skyline above its floor"
    if any(None not in (cell["skyline"], cell["floor"]) for cell in cells):
        return f"for {label} no layer pair has a skyline above its floor"
    return f"for {label} no layer pair has both a skyline and a floor"


def _spread_clause(label: str, sds: list[float]) -> str:
    return f"at most {fmt(max(sds))} for {label}" if sds else f"not available for {label} (fewer than two runs scored)"


def _alignment_sentence(shuffled: list[dict[str, Any]], pair_summary: dict[str, Any]) -> str:
    """Whether the filters tell B's shuffled windows from the aligned ones: pairs kept with and without the shuffle."""
    shuffled_kept = max((row["kept"] for row in shuffled), default=0)
    shuffled_one_to_one = max((row["one_to_one_n"] for row in shuffled), default=0)
    aligned_kept = min(summary["filters"]["kept"] for summary in pair_summary.values())
    if shuffled_kept < aligned_kept:
        return (f"With the windows of B shuffled against those of A, at most {shuffled_kept} pairs per layer pair pass every filter, against at least "
                f"{aligned_kept} with the windows aligned, and at most {shuffled_one_to_one} are one-to-one: the pairing depends on the "
                "tokens being aligned.")  # fmt: skip
    return (f"With the windows of B shuffled against those of A, up to {shuffled_kept} pairs per layer pair pass every filter, as many as the "
            f"{aligned_kept} of the aligned windows on one layer pair, and up to {shuffled_one_to_one} are one-to-one: the filters do not "
            "tell aligned tokens from shuffled ones.")  # fmt: skip


def calibration_macros(calibration: dict[str, Any], pair_summary: dict[str, Any]) -> dict[str, str]:
    """Numbers and data-dependent sentences of the calibration section; `pair_summary`: the main comparison's, for the aligned windows."""
    rows, shuffled = calibration["layer_pairs"], calibration["shuffled"]
    ordered = total = 0
    gaps, spreads = [], []
    for metric in METRICS:
        cells = [row["metrics"][metric] for row in rows]
        for scores in cells:
            if None not in (scores["observed"], scores["skyline"], scores["floor"]):
                total += 1
                ordered += scores["floor"] < scores["observed"] < scores["skyline"]
        if metric in HEADLINE:
            label = METRIC_LABELS[metric]
            gaps.append(_gap_clause(label, cells))
            spreads.append(_spread_clause(label, [s["seeds"]["sd"] for s in cells if s["seeds"]["sd"] is not None]))
    return {
        "seed-runs": str(1 + len(calibration["comparisons"]["replicates"])),
        "calibration-gaps": "; ".join(gaps),
        "calibration-seed-spread": " and ".join(spreads),
        "calibration-verdict": _ordering_sentence(ordered, total),
        "shuffled-verdict": _alignment_sentence(shuffled, pair_summary),
    }


def _ordering_sentence(ordered: int, total: int) -> str:
    if total == 0:
        return "No layer pair has a skyline, a floor and a score together, so none is calibrated."
    if ordered == total:
        return f"In all {total} layer-pair metrics the cross-model score lies between the floor and the skyline."
    return (f"In {ordered} of {total} layer-pair metrics the cross-model score lies between the floor and the skyline; "
            f"in the other {total - ordered} it does not (the appendix table lists them).")  # fmt: skip
