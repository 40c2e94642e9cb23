"""Tables of the calibration: scores against skyline and floor, their spread across seeds, shuffled windows."""

from __future__ import annotations

from typing import Any

from universality.report.latex import GENERATED_HEADER, fmt, fmt_p, layers_cell, table_row
from universality.report.tables import METRIC_LABELS
from universality.similarity.metrics import METRICS

HEADLINE = ("svcca", "rsa")
METRIC_NAMES = {"svcca": "SVCCA", "rsa": "RSA"}


def _plus_minus(spread: dict[str, Any]) -> str:
    if spread["mean"] is None:
        return "--"
    return fmt(spread["mean"]) + ("" if spread["sd"] is None else f" $\\pm$ {fmt(spread['sd'])}")


def _calibrated(scores: dict[str, Any]) -> list[str]:
    return [fmt(scores["observed"]), _plus_minus(scores["seeds"]), fmt(scores["skyline"]), fmt(scores["floor"]), fmt(scores["gap_fraction"], 2)]


def calibration_table(rows: list[dict[str, Any]]) -> str:
    """Main body: SVCCA and RSA of the 1-1 pairs with seed spread, skyline, floor and gap fraction."""
    lines = [GENERATED_HEADER, "\\begin{tabular}{lr" + "rrrrr" * len(HEADLINE) + "}\n\\toprule\n"]
    groups = [f"\\multicolumn{{5}}{{c}}{{{METRIC_LABELS[m]}}}" for m in HEADLINE]
    lines.append(table_row(["", "", *groups]))
    lines.append("".join(f"\\cmidrule(lr){{{3 + 5 * i}-{7 + 5 * i}}}" for i in range(len(HEADLINE))) + "\n")
    lines.append(table_row(["Layers A / B", "$n$", *["score", "seeds", "skyline", "floor", "gap"] * len(HEADLINE)]))
    lines.append("\\midrule\n")
    for row in rows:
        lines.append(table_row([layers_cell(row), str(row["n"]), *[cell for m in HEADLINE for cell in _calibrated(row["metrics"][m])]]))
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)


def calibration_metric_table(rows: list[dict[str, Any]]) -> str:
    """Appendix: every metric with its seed spread (range), skyline, floor and gap fraction (also across seeds)."""
    lines = [GENERATED_HEADER, "\\begin{tabular}{llrrrrrrr}\n\\toprule\n"]
    lines.append(table_row(["Layers", "metric", "score", "seeds", "range", "skyline", "floor", "gap", "gap, seeds"]))
    for row in rows:
        lines.append("\\midrule\n")
        for metric in METRICS:
            scores = row["metrics"][metric]
            seeds = scores["seeds"]
            extent = "--" if seeds["mean"] is None else f"[{fmt(seeds['min'])}, {fmt(seeds['max'])}]"
            lines.append(table_row([layers_cell(row), METRIC_LABELS[metric], *_calibrated(scores)[:2], extent, *_calibrated(scores)[2:],
                               _plus_minus(scores["gap_fraction_seeds"])]))  # fmt: skip
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)


def shuffled_table(rows: list[dict[str, Any]]) -> str:
    """The pairing-level null: pairs found and kept with B's windows shuffled, and the shuffled 1-1 set's scores."""
    lines = [GENERATED_HEADER, "\\begin{tabular}{lrrrrrrr}\n\\toprule\n"]
    lines.append(table_row(["Layers A / B", "pairs", "kept", "1-1", "SVCCA", "$p$ row", "RSA", "$p$ row"]))
    lines.append("\\midrule\n")
    for row in rows:
        scores, p = row["scores"] or {}, row["p_row_shuffle"] or {}
        cells = [cell for m in HEADLINE for cell in (fmt(scores.get(m)), fmt_p(p.get(m)))]
        lines.append(table_row([layers_cell(row), str(row["pairs"]), str(row["kept"]), str(row["one_to_one_n"]), *cells]))
    lines.append("\\bottomrule\n\\end{tabular}\n")
    return "".join(lines)


def _gap_clause(label: str, fractions: list[float]) -> str:
    if not fractions:
        return f"for {label} no layer pair has a skyline above its floor"
    return f"for {label} it lies between {fmt(min(fractions), 2)} and {fmt(max(fractions), 2)}"


def _spread_clause(label: str, sds: list[float]) -> str:
    return f"at most {fmt(max(sds))} for {label}" if sds else f"not available for {label} (fewer than two runs scored)"


def calibration_macros(calibration: dict[str, Any]) -> dict[str, str]:
    """Numbers and data-dependent sentences of the calibration section."""
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
            label = METRIC_NAMES[metric]
            gaps.append(_gap_clause(label, [s["gap_fraction"] for s in cells if s["gap_fraction"] is not None]))
            spreads.append(_spread_clause(label, [s["seeds"]["sd"] for s in cells if s["seeds"]["sd"] is not None]))
    return {
        "seed-runs": str(1 + len(calibration["comparisons"]["replicates"])),
        "calibration-gaps": "; ".join(gaps),
        "calibration-seed-spread": " and ".join(spreads),
        "calibration-verdict": _ordering_sentence(ordered, total),
        "shuffled-kept-max": str(max((row["kept"] for row in shuffled), default=0)),
        "shuffled-one-to-one-max": str(max((row["one_to_one_n"] for row in shuffled), default=0)),
    }


def _ordering_sentence(ordered: int, total: int) -> str:
    if total == 0:
        return "No layer pair has a skyline, a floor and a score together, so none is calibrated."
    if ordered == total:
        return f"In all {total} layer-pair metrics the cross-model score lies between the floor and the skyline."
    return (f"In {ordered} of {total} layer-pair metrics the cross-model score lies between the floor and the skyline; "
            f"in the other {total - ordered} it does not (the appendix table lists them).")  # fmt: skip
