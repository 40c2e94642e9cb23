"""Sentences whose direction depends on the data: the abstract's scores, the experiment shown, the limits of the scores.

Each sentence is computed from the results records with its numbers, so the text cannot
contradict the tables. A metric is *saturated* on a layer pair when its size-matched chance
level is 1 (the null leaves it no effect): it is then 1 for any pairing and says nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from universality.report.figures import FDR_LEVEL, HEATMAP_METRICS
from universality.report.latex import fmt, latex_text, series
from universality.report.tables import HEADLINE, METRIC_LABELS


def _scored(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["status"] == "ok"]


def _saturated(record: dict[str, Any], metric: str) -> bool:
    size = record[metric]["size_matched"]
    return size["null_mean"] is not None and size["effect"] is None


def _significant(record: dict[str, Any], metric: str) -> bool:
    q = record[metric]["size_matched"].get("q")
    return q is not None and q <= FDR_LEVEL


def metric_summary(records: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Over the scored 1-1 sets: how many are saturated, how many above chance after FDR, the median score and chance."""
    scored = _scored(records)
    informative = [r for r in scored if not _saturated(r, metric)]
    return {
        "scored": len(scored),
        "saturated": len(scored) - len(informative),
        "significant": sum(_significant(r, metric) for r in informative),
        "median": float(np.median([r[metric]["observed"] for r in informative])) if informative else None,
        "chance": float(np.median([r[metric]["size_matched"]["null_mean"] for r in informative])) if informative else None,
    }


def _clause(label: str, summary: dict[str, Any], first: bool) -> str:
    claim = " is above its size-matched chance level in" if first else " in"
    return (f"{label}{claim} {summary['significant']} of {summary['scored']}{' layer pairs' if first else ''} "
            f"(median {fmt(summary['median'])} against chance {fmt(summary['chance'])})")  # fmt: skip


def abstract_sentence(records: list[dict[str, Any]]) -> str:
    """The abstract's result: informative metrics first, ordered by how often they beat chance; saturated ones named as such."""
    summaries = {metric: metric_summary(records, metric) for metric in HEATMAP_METRICS}
    scored = next(iter(summaries.values()))["scored"]
    if scored == 0:
        return "No layer pair has enough one-to-one pairs after the filters to be scored."
    informative = sorted((m for m, s in summaries.items() if s["saturated"] < s["scored"]), key=lambda m: -summaries[m]["significant"])
    saturated = [METRIC_LABELS[m] for m, s in summaries.items() if s["saturated"] == s["scored"]]
    parts = []
    if informative:
        clauses = [_clause(METRIC_LABELS[m], summaries[m], first=index == 0) for index, m in enumerate(informative)]
        parts.append(f"After false-discovery control over every reported test, on the one-to-one pairs {series(clauses)}.")
    if saturated:
        verb = (
            "equals its chance level of 1 at these set sizes and carries"
            if len(saturated) == 1
            else "equal their chance level of 1 at these set sizes and carry"
        )
        parts.append(f"{series(saturated)} {verb} no information here.")
    return " ".join(parts)


ALL_PAIRS = "cum_all"  # the subset key of a layer pair's whole pairing (pairing.subsets.cumulative_buckets)


def all_pairs_sentence(buckets: list[dict[str, Any]]) -> str:
    """The headline metrics on every pair of each layer pair, many-to-one included: the larger sets beside the 1-1 result."""
    records = [record for record in buckets if record["subset"] == ALL_PAIRS]
    summaries = {metric: metric_summary(records, metric) for metric in HEADLINE}
    if not any(summary["scored"] for summary in summaries.values()):
        return "No layer pair has enough pairs to be scored on all of them."
    informative = [(m, s) for m, s in summaries.items() if s["saturated"] < s["scored"]]
    clauses = [_clause(METRIC_LABELS[m], s, first=index == 0) for index, (m, s) in enumerate(informative)]
    return (
        f"On all pairs of each layer pair, many-to-one ones included, {series(clauses)}."
        if clauses
        else ("On all pairs of each layer pair the headline metrics equal their chance level of 1.")
    )


def saturation_sentence(records: list[dict[str, Any]], widths: tuple[int | None, int | None]) -> str:
    """Why a score is saturated where it is: set sizes against the model widths (left out where a model does not record its width)."""
    scored = _scored(records)
    saturated = [r for r in scored if _saturated(r, "svcca")]
    if not saturated:
        return "SVCCA is below its ceiling by chance on every scored layer pair, so its scores are informative."
    sizes = [r["n"] for r in saturated]
    known = f" ({widths[0]} and {widths[1]})" if None not in widths else ""
    return (f"On {len(saturated)} of {len(scored)} scored layer pairs the one-to-one set ({min(sizes)} to {max(sizes)} pairs) is smaller "
            f"than the model widths{known}, so SVCCA keeps about $n - 1$ directions on each side and its "
            "canonical correlations are 1 for any pairing: its chance level is 1 and a larger set is needed to test it.")  # fmt: skip


def experiment_sentence(setup: dict[str, Any]) -> str:
    """Which experiment the manuscript shows, from the main comparison's setup record."""
    kinds = {setup[side]["spec"]["kind"] for side in ("a", "b")}
    sources = f"{latex_text(setup['a']['source'])} and {latex_text(setup['b']['source'])}"
    if kinds == {"trained"}:
        return f"the toy experiment, in which {sources} are small transformers that the pipeline trains offline"
    if kinds == {"pretrained"}:
        names = " and ".join(latex_text(setup[side]["model_spec"]["model_name"]) for side in ("a", "b"))
        return f"the pretrained experiment, in which {sources} are the published models {names} with their published SAEs"
    return f"the experiment comparing {sources}"


def claim_macros(records: list[dict[str, Any]], buckets: list[dict[str, Any]], setup: dict[str, Any]) -> dict[str, str]:
    widths = tuple(setup[side]["model_spec"].get("d_model") for side in ("a", "b"))  # hub models do not state theirs in params
    return {
        "abstract-scores": abstract_sentence(records),
        "abstract-all-pairs": all_pairs_sentence(buckets),
        "limit-saturation": saturation_sentence(records, widths),
        "experiment": experiment_sentence(setup),
        "fdr-level": f"{FDR_LEVEL:g}",
    }
