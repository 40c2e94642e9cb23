"""Token identity and semantic subspaces in the manuscript: tables, the grid figure, the sentences."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from universality.report.figures import STYLE, TEXT_WIDTH_IN, save_pdf
from universality.report.latex import fmt, fmt_p, fmt_share, latex_text, layers_cell, table_row, tabular
from universality.report.tables import HEADLINE, METRIC_LABELS

Q_LEVEL = 0.05  # grid cells with a size-matched q at or below this are marked significant
METRICS = {metric: METRIC_LABELS[metric] for metric in HEADLINE}


def _observed(scores: dict[str, Any], metric: str) -> float | None:
    return scores[metric]["observed"] if scores["status"] == "ok" else None


def _null(scores: dict[str, Any], metric: str, field: str) -> float | None:
    return scores[metric]["size_matched"].get(field) if scores["status"] == "ok" else None


IDENTITY_PARTS = {"all": "all", "without_identity": "without", "embedding": "embedding"}  # scored pair set -> column


def identity_table(identity: list[dict[str, Any]]) -> str:
    """Per layer pair: 1-1 pairs, token-identity pairs and their share; then a row per metric with its score on all 1-1 pairs,
    without the token-identity pairs and on the embedding rows of the pairs' top tokens."""
    body = []
    for record in identity:
        counts = [layers_cell(record), str(record["n"]), str(record["identity_pairs"]),
                  "--" if record["identity_share"] is None else fmt_share(record["identity_share"])]  # fmt: skip
        for metric, label in METRICS.items():
            body.append(table_row([*counts, label, *[fmt(_observed(record[part], metric)) for part in IDENTITY_PARTS]]))
            counts = [""] * len(counts)  # the counts on the first metric's row only
    head = [table_row(["Layers", "1-1 $n$", "identity", "share", "metric", *IDENTITY_PARTS.values()])]
    return tabular("lrrrlrrr", head, body)


def _per_layer(counts: dict[str, int]) -> str:
    return ", ".join(str(counts[layer]) for layer in sorted(counts, key=int))


def rule_table(results: dict[str, Any]) -> str:
    """Per category: tokens carrying it, features of each layer assigned to it, 1-1 pairs inside it summed over layer pairs."""
    body = []
    for category in results["categories"]:
        size = results["sizes"][category]
        pairs = sum(cell["n"] for cell in results["grid"] if cell["category"] == category)
        body.append(table_row([latex_text(category), str(size["tokens"]), _per_layer(size["a"]), _per_layer(size["b"]), str(pairs)]))
    head = [table_row(["category", "tokens", "A features by layer", "B features by layer", "1-1 pairs"])]
    return tabular("lrllr", head, body)


def grid_table(results: dict[str, Any]) -> str:
    """A long table of every category at every layer pair: pairs, SVCCA, RSA with its size-matched null mean, p and q."""
    body, previous = [], None
    for cell in results["grid"]:
        if previous is not None and cell["category"] != previous:
            body.append("\\midrule\n")
        body.append(table_row([latex_text(cell["category"]) if cell["category"] != previous else "", layers_cell(cell), str(cell["n"]),
                               fmt(_observed(cell, "svcca")), fmt(_observed(cell, "rsa")), fmt(_null(cell, "rsa", "null_mean")),
                               fmt_p(_null(cell, "rsa", "p")), fmt_p(_null(cell, "rsa", "q"))]))  # fmt: skip
        previous = cell["category"]
    head = [table_row(["category", "Layers", "$n$", "SVCCA", "RSA", "null mean", "$p$", "$q$"])]
    return tabular("llrrrrrr", head, body, long=True)


def grid_figure(results: dict[str, Any], path) -> None:
    """Category x layer pair: the RSA effect over the size-matched null (colour), n, and a star where q <= Q_LEVEL."""
    categories = results["categories"]
    layer_pairs = list(dict.fromkeys((cell["layer_a"], cell["layer_b"]) for cell in results["grid"]))
    effect = np.full((len(categories), len(layer_pairs)), np.nan)
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(TEXT_WIDTH_IN, 0.3 * len(categories) + 1.0), layout="constrained")
        if not results["grid"]:
            axis.axis("off")
            axis.text(0.5, 0.5, f"no semantic grid ({results['status']})", ha="center", va="center")
            save_pdf(figure, path)
            return
        for cell in results["grid"]:
            row, column = categories.index(cell["category"]), layer_pairs.index((cell["layer_a"], cell["layer_b"]))
            value = _null(cell, "rsa", "effect")
            effect[row, column] = np.nan if value is None else value
            q = _null(cell, "rsa", "q")
            axis.text(column, row, f"{cell['n']}" + ("*" if q is not None and q <= Q_LEVEL else ""), ha="center", va="center", fontsize=6)
        image = axis.imshow(effect, cmap="cividis", vmin=-1, vmax=1, aspect="auto")
        axis.set_xticks(range(len(layer_pairs)), [f"{a} / {b}" for a, b in layer_pairs])
        axis.set_yticks(range(len(categories)), categories)
        axis.set_xlabel("layer pair (A / B); cell text: 1-1 pairs in the category, * where $q \\leq 0.05$")
        axis.spines[:].set_visible(False)
        figure.colorbar(image, ax=axis, label="RSA effect vs. size-matched null")
        save_pdf(figure, path)


def _median(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.median(finite)) if finite else None


def _direction(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "cannot be compared with"
    return "raises" if after > before + 0.005 else "lowers" if after < before - 0.005 else "leaves unchanged"


def subspace_macros(results: dict[str, Any]) -> dict[str, str]:
    """Numbers and sentences of the token-identity control (prefix `ident-`) and the semantic grid (prefix `sem-`)."""
    if results["status"] != "ok":
        reason = "its token set has no text" if results["status"] == "no token text" else "it was not analysed"
        return {"ident-summary": f"The token-identity control did not run on this comparison: {reason}.",
                "sem-summary": f"The semantic subspaces were not computed on this comparison: {reason}."}  # fmt: skip
    identity, grid = results["identity"], results["grid"]
    shares = [record["identity_share"] for record in identity if record["identity_share"] is not None]
    rsa_all = _median([_observed(record["all"], "rsa") for record in identity])
    rsa_without = _median([_observed(record["without_identity"], "rsa") for record in identity])
    rsa_embedding = _median([_observed(record["embedding"], "rsa") for record in identity])
    median_share, max_share = (fmt_share(f(shares)) if shares else "--" for f in (np.median, max))
    macros = {"ident-top-k": str(results["rule"]["top_k"]), "ident-min-share": fmt_share(results["rule"]["identity_share"])}
    macros["ident-summary"] = (
        f"Token-identity pairs make up a median {median_share} of the one-to-one pairs (at most {max_share}); "
        f"removing them {_direction(rsa_all, rsa_without)} the median RSA ({fmt(rsa_all)} with them, {fmt(rsa_without)} without), and "
        f"the embedding rows of the top tokens of the pairs give a median RSA of {fmt(rsa_embedding)}."
    )
    scored = [cell for cell in grid if cell["status"] == "ok"]
    significant = [cell for cell in scored if (_null(cell, "rsa", "q") or 1.0) <= Q_LEVEL]
    count = len(results["categories"])
    macros["sem-rule"] = (f"every analysis token carries the WordNet lexicographer file of the gloss it belongs to, when that file is one of the {count} listed"
                          if results["rule"]["rule"] == "lexname" else f"an analysis token whose text is in one of the {count} word lists carries that list's category")  # fmt: skip
    macros["sem-min-share"] = fmt_share(results["rule"]["min_share"])
    where = "; ".join(f"{cell['category']} at {cell['layer_a']} / {cell['layer_b']}" for cell in significant)
    significance = "an RSA significant against the size-matched null after FDR control over the whole grid"
    macros["sem-summary"] = (
        f"Of the {len(grid)} cells of the grid ({count} categories at every layer pair), {len(scored)} hold enough one-to-one pairs to be "
        + (
            f"scored, and {len(significant)} of them have {significance} ({where})."
            if significant
            else f"scored, and none of them has {significance}."
        )
    )
    return macros
