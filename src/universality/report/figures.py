"""Figures at final ICLR size: STIX (Times-like) fonts, TrueType embedding, fixed metadata."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.rcsetup import cycler  # what `matplotlib.cycler` is, with its type

from universality.collapse.matched import entry_scores
from universality.io import atomic_path
from universality.report.tables import HEADLINE, METRIC_LABELS

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

TEXT_WIDTH_IN = 5.5
# Okabe-Ito: distinguishable with colour-vision deficiencies and in greyscale print.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STYLE: dict[RcKeyType, Any] = {
    "font.family": "STIXGeneral",
    "mathtext.fontset": "stix",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "pdf.fonttype": 42,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
}


def save_pdf(figure: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None, "Producer": None})
    plt.close(figure)


def one_to_one_nulls(records: list[dict[str, Any]], null_scores: pd.DataFrame, path: Path) -> None:
    """Observed 1-1 SVCCA and RSA per layer pair against their row-shuffle null distributions."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH_IN, 2.1), layout="constrained")
        scored = [r for r in records if r["status"] == "ok"]
        labels = [f"{r['layer_a']}/{r['layer_b']}" for r in scored]
        for axis, metric in zip(axes, HEADLINE, strict=True):
            title = METRIC_LABELS[metric]
            nulls = [
                null_scores.loc[
                    (null_scores["layer_a"] == r["layer_a"])
                    & (null_scores["layer_b"] == r["layer_b"])
                    & (null_scores["null"] == "row_shuffle"),
                    metric,
                ].to_numpy()
                for r in scored
            ]
            positions = np.arange(len(scored))
            if scored:
                axis.violinplot(nulls, positions=positions, showextrema=False, widths=0.7)
                axis.scatter(positions, [r[metric]["observed"] for r in scored], color=PALETTE[3], marker="D", s=14, zorder=3)
            axis.set_xticks(positions, labels)
            axis.set_xlabel("layer pair (A / B)")
            axis.set_ylabel(title)
            axis.set_title(f"{title}: 1-1 pairs vs. row-shuffle null")
            axis.set_ylim(min(-0.05, axis.get_ylim()[0]), 1.02)
        save_pdf(figure, path)


def multiplicity(pairs_by_layer_pair: dict[str, pd.DataFrame], path: Path) -> None:
    """How many B features share each pair's A partner: the distribution of multiplicity m."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(TEXT_WIDTH_IN, 2.0), layout="constrained")
        largest = max(int(frame["multiplicity"].max()) for frame in pairs_by_layer_pair.values())
        if largest <= 30:  # few values: one bar per multiplicity on a linear axis
            bins = np.arange(0.5, largest + 1.5)
            axis.set_xticks(range(1, largest + 1))
        else:
            bins = np.unique(np.round(np.logspace(0, np.log10(largest + 1), 30)).astype(int))
            axis.set_xscale("log")
        for key, frame in pairs_by_layer_pair.items():
            axis.hist(frame["multiplicity"], bins=bins, histtype="step", linewidth=1.2, label=key.replace("_", " / "))  # type: ignore[arg-type]  # the stub omits array bins
        axis.set_xlabel("multiplicity $m$ of the pair's A partner")
        axis.set_ylabel("B features")
        axis.legend(title="layers", frameon=False, ncols=min(4, len(pairs_by_layer_pair)))
        save_pdf(figure, path)


def _bucket_score(entry: dict | None, metric: str, field: str) -> float:
    scores = entry_scores(entry, metric)
    return np.nan if scores is None else scores[field]


def collapse_curves(layer_pairs: list[dict[str, Any]], metrics: dict[str, str], path: Path) -> None:
    """Score against multiplicity bucket per layer pair: raw, matched n (with its chance band) and deduplicated."""
    with plt.rc_context(STYLE):
        columns = max(len(layer_pairs), 1)
        figure, axes = plt.subplots(len(metrics), columns, figsize=(TEXT_WIDTH_IN, 1.3 * len(metrics) + 0.5), layout="constrained",
                                    sharex=True, sharey="row", squeeze=False)  # fmt: skip
        for column, record in enumerate(layer_pairs):
            buckets = record["buckets"]
            x = np.arange(len(buckets))
            for row, (metric, label) in enumerate(metrics.items()):
                axis = axes[row, column]
                raw = [b["raw"][metric] if b["raw"] else np.nan for b in buckets]
                low, high = ([_bucket_score(b["matched"], metric, f) for b in buckets] for f in ("chance_low", "chance_high"))
                axis.fill_between(x, low, high, color="0.85", linewidth=0, label="chance (matched $n$)")
                axis.plot(x, raw, "o-", color=PALETTE[0], markersize=3, label="raw")
                axis.plot(
                    x,
                    [_bucket_score(b["matched"], metric, "mean") for b in buckets],
                    "s-",
                    color=PALETTE[3],
                    markersize=3,
                    label="matched $n$",
                )
                axis.plot(x, [_bucket_score(b["deduplicated_best"], metric, "mean") for b in buckets], "^--", color=PALETTE[2], markersize=3,
                          label="one row per A")  # fmt: skip
                axis.set_xticks(x, [b["label"].strip("$").replace("m = ", "").replace("\\le m \\le", "-").replace("m \\ge ", "$\\geq$") for b in buckets],
                                rotation=60)  # fmt: skip
                if column == 0:
                    axis.set_ylabel(label)
                if row == 0:
                    axis.set_title(f"layers {record['layer_a']} / {record['layer_b']}")
        axes[-1, 0].set_xlabel("multiplicity $m$")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=4, frameon=False)
        save_pdf(figure, path)


HEATMAP_METRICS = ("svcca", "rsa", "cka", "procrustes")  # the metrics of the main-body heatmap, labelled by METRIC_LABELS
FDR_LEVEL = 0.05  # cells whose size-matched q is at or below this are starred


def one_to_one_heatmap(records: list[dict[str, Any]], path: Path) -> None:
    """Layer x layer maps of the 1-1 scores' chance-corrected effect (size-matched null); * marks q <= FDR_LEVEL."""
    layers_a = sorted({r["layer_a"] for r in records})
    layers_b = sorted({r["layer_b"] for r in records})
    cell = {(r["layer_a"], r["layer_b"]): r for r in records}
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(HEATMAP_METRICS), figsize=(TEXT_WIDTH_IN, 0.45 * len(layers_a) + 1.0), layout="constrained",
                                    sharey=True, squeeze=False)  # fmt: skip
        colours = plt.get_cmap("cividis").with_extremes(bad="0.92")
        for axis, metric in zip(axes[0], HEATMAP_METRICS, strict=True):
            effect = np.full((len(layers_a), len(layers_b)), np.nan)
            for i, la in enumerate(layers_a):
                for j, lb in enumerate(layers_b):
                    record = cell.get((la, lb))
                    size = record[metric]["size_matched"] if record is not None and record["status"] == "ok" else {}
                    if size.get("effect") is None:  # a chance level of 1 leaves no effect to measure; otherwise nothing was scored
                        saturated = size.get("null_mean") is not None
                        axis.text(j, i, "sat." if saturated else "\u2013", ha="center", va="center", fontsize=6.5, color="0.3")
                        continue
                    effect[i, j] = size["effect"]
                    star = "*" if size.get("q") is not None and size["q"] <= FDR_LEVEL else ""
                    shade = colours(np.clip((effect[i, j] + 1) / 2, 0, 1))
                    ink = "black" if 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] > 0.5 else "white"
                    axis.text(j, i, f"{effect[i, j]:.2f}{star}", ha="center", va="center", fontsize=6.5, color=ink)
            image = axis.imshow(np.clip(effect, -1, 1), cmap=colours, vmin=-1, vmax=1, aspect="auto")
            axis.set_xticks(range(len(layers_b)), layers_b)
            axis.set_yticks(range(len(layers_a)), layers_a)
            axis.set_xlabel("layer of B")
            axis.set_title(METRIC_LABELS[metric])
            axis.spines[:].set_visible(False)
        axes[0, 0].set_ylabel("layer of A")
        figure.colorbar(image, ax=axes[0, -1], label="effect vs. chance", shrink=0.9)
        save_pdf(figure, path)
