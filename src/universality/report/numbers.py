"""Every number quoted in the manuscript's prose, as `\\uvdefine{key}{value}` macros.

The manuscript reads them through `\\uv{key}`, which stops LaTeX with an error for an unknown
key. The main comparison's numbers have plain keys; each planted comparison's carry its role
as a prefix (`planted-related-...`). Setup numbers come from the comparison's setup record
(`results/<comparison>/pair/setup.json`, with each side's model metrics from
`results/models/`), never from params.yaml directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from universality.pairing.filters import FILTERS
from universality.pairing.subsets import ONE_TO_ONE_RULES
from universality.params.schema import Params
from universality.report.latex import GENERATED_HEADER, fmt, fmt_p, fmt_share, latex_text
from universality.similarity.nulls import MIN_PAIRS


def _dead_feature_macros(summaries: list[dict[str, Any]]) -> dict[str, str]:
    """Dead and rare (below the minimum support) features per model over all its layers (each layer counted once)."""
    numbers = {"min-support": str(summaries[0]["min_support"])}
    for role in ("a", "b"):
        per_layer = {s[f"layer_{role}"]: (s[f"dead_{role}"], s[f"rare_{role}"], s[f"n_features_{role}"]) for s in summaries}
        numbers[f"dead-{role}"] = str(sum(dead for dead, _, _ in per_layer.values()))
        numbers[f"rare-{role}"] = str(sum(rare for _, rare, _ in per_layer.values()))
        numbers[f"features-{role}"] = str(sum(total for _, _, total in per_layer.values()))
    return numbers


def _filter_macros(params: Params, summaries: list[dict[str, Any]]) -> dict[str, str]:
    """The filters' settings and how many pairs each removed over all layer pairs."""
    filters = params.filters
    numbers = {
        "min-correlation": "none" if filters.min_correlation is None else fmt(filters.min_correlation, 2),
        "one-to-one-rule": ONE_TO_ONE_RULES[params.subsets.one_to_one],
        "pairs-total": str(sum(s["filters"]["pairs"] for s in summaries)),
        "pairs-kept": str(sum(s["filters"]["kept"] for s in summaries)),
        "non-concept-top-k": str(filters.non_concept.top_k),
        "non-concept-classes": ", ".join(filters.non_concept.token_classes),
    }
    for name in FILTERS:
        numbers[f"removed-{name.replace('_', '-')}"] = str(sum(s["filters"][name]["removed"] for s in summaries))
        numbers[f"filter-{name.replace('_', '-')}"] = "on" if summaries[0]["filters"][name]["enabled"] else "off"
    return numbers


def _largest(values: list[float | None]) -> float | None:
    """The largest value, or None when one is missing (a null that has a status instead of a value)."""
    present = [v for v in values if v is not None]
    return max(present) if len(present) == len(values) else None


def _score_macros(records: list[dict[str, Any]]) -> dict[str, str]:
    """Ranges of the 1-1 scores over the layer pairs, with their nulls ("--" where a null has a status)."""
    scored = [r for r in records if r["status"] == "ok"]
    numbers = {"one-to-one-n-min": str(min(r["n"] for r in records)), "one-to-one-n-max": str(max(r["n"] for r in records))}
    for metric in ("svcca", "rsa") if scored else ():
        observed = [r[metric]["observed"] for r in scored]
        numbers |= {
            f"{metric}-min": fmt(min(observed)),
            f"{metric}-max": fmt(max(observed)),
            f"{metric}-null-max": fmt(_largest([r[metric]["row_shuffle"]["null_mean"] for r in scored])),
            f"{metric}-p-max": fmt_p(_largest([r[metric]["row_shuffle"]["p"] for r in scored])),
            f"{metric}-chance-max": fmt(_largest([r[metric]["size_matched"]["null_mean"] for r in scored])),
            f"{metric}-p-size-max": fmt_p(_largest([r[metric]["size_matched"]["p"] for r in scored])),
        }
    return numbers


def _planted_macros(records: list[dict[str, Any]]) -> dict[str, str]:
    """How many 1-1 pairs join two recoveries of the same planted feature (planted comparisons only)."""
    planted = [r["planted"] for r in records if "planted" in r]
    if not planted:
        return {}
    correct, total = sum(p["correct"] for p in planted), sum(p["n"] for p in planted)
    recovered = sum(p["both_recovered"] for p in planted)
    correct_recovered = sum(p["correct_among_recovered"] for p in planted)
    return {
        "correct": str(correct),
        "total": str(total),
        "share": fmt_share(correct / total) if total else "n/a",
        "recovered": str(recovered),
        "min-cosine": fmt(planted[0]["min_cosine"], 1),
        "share-recovered": fmt_share(correct_recovered / recovered) if recovered else "n/a",
    }


# the numbers the planted-validation paragraph quotes for each planted comparison
PLANTED_QUOTED = ("share", "total", "svcca-max", "svcca-chance-max", "svcca-p-size-max", "rsa-max", "rsa-p-size-max")
SIGNIFICANCE = 0.05  # the level at which the generated verdict calls a score above chance


_VERDICTS = {  # (related above chance, unrelated above chance) -> what SVCCA does
    (True, False): "tells the related geometry from the unrelated one",
    (True, True): "calls both geometries similar, so it does not tell them apart",
    (False, False): "calls neither geometry similar",
    (False, True): "calls the unrelated geometry similar and the related one not",
}


def planted_verdict(related: list[dict[str, Any]], unrelated: list[dict[str, Any]]) -> str:
    """One sentence on whether SVCCA tells the planted geometries apart, under the row-shuffle and size-matched nulls."""
    scored = [[r for r in records if r["status"] == "ok"] for records in (related, unrelated)]
    if not all(scored):
        return "One of the planted comparisons has too few one-to-one pairs to be scored."
    clauses = []
    for null, label in (("row_shuffle", "row-shuffle"), ("size_matched", "size-matched")):
        related_p, unrelated_p = (_largest([r["svcca"][null]["p"] for r in records]) for records in scored)
        if related_p is None or unrelated_p is None:
            return f"SVCCA's {label} null has a status instead of a p-value on a planted comparison, so no verdict is drawn."
        above = (related_p <= SIGNIFICANCE, unrelated_p <= SIGNIFICANCE)
        clauses.append(f"under the {label} null SVCCA {_VERDICTS[above]}")
    return f"At the {SIGNIFICANCE} level, {clauses[0]}; {clauses[1]}."


def _setup_macros(setup: dict[str, Any]) -> dict[str, str]:
    """The main comparison's setup: sources, token set, shapes, training, held-out losses, hook check."""
    numbers = {
        "comparison": latex_text(setup["comparison"]),
        "model-a": latex_text(setup["a"]["source"]),
        "model-b": latex_text(setup["b"]["source"]),
    }
    qualities = [q for side in ("a", "b") for q in setup[side]["quality"].values()]
    numbers["fvu-max"] = fmt(max(q["fvu"] for q in qualities))
    hook_checks = [q["hook_check"] for q in qualities if "hook_check" in q]
    if hook_checks:
        numbers |= {
            "hook-fvu-max": fmt(max(h["fvu"] for h in hook_checks)),
            "hook-neighbour-fvu-min": fmt(min(min(h["neighbours"].values()) for h in hook_checks)),
            "hook-fvu-bound": fmt(hook_checks[0]["max_fvu"], 2),
        }
    if all(setup[side]["spec"]["kind"] == "trained" for side in ("a", "b")):
        numbers |= _trained_macros(setup)
    return numbers


def _trained_macros(setup: dict[str, Any]) -> dict[str, str]:
    """Corpus, model shapes, training and held-out losses of two sources trained here."""
    tokens, spec_a, model_a = setup["token_set"], setup["a"]["spec"], setup["a"]["model_spec"]
    numbers = {
        "vocab-size": str(tokens["vocab_size"]),
        "context-length": str(tokens["context_length"]),
        "analysis-windows": str(tokens["analysis_windows"]),
        "sae-training-tokens": f"{spec_a['sae']['training']['training_tokens']:,}".replace(",", "{,}"),
        "lm-steps": str(model_a["training"]["max_steps"]) if model_a["training"]["max_steps"] else "one epoch",
        "lm-batch": str(model_a["training"]["batch_size"]),
    }
    for role in ("a", "b"):
        spec, model, metrics = setup[role]["spec"], setup[role]["model_spec"], setup[role]["model"]
        numbers |= {
            f"layers-{role}": str(model["n_layers"]),
            f"d-model-{role}": str(model["d_model"]),
            f"k-{role}": str(spec["sae"]["k"]),
            f"lm-loss-{role}": fmt(metrics["loss"], 2),
            f"parameters-{role}": f"{metrics['parameters']:,}".replace(",", "{,}"),
        }
    return numbers


def number_macros(params: Params, main: dict[str, Any], planted: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Every number quoted in prose. `main`: the main comparison's records, buckets, pair summary
    and setup; `planted`: the 1-1 records of each planted comparison, keyed by its role."""
    summaries = list(main["pair_summary"].values())
    numbers = {
        "n-tokens": str(summaries[0]["n_tokens"]),
        "d-sae-a": str(summaries[0]["n_features_a"]),
        "d-sae-b": str(summaries[0]["n_features_b"]),
        "n-layer-pairs": str(len(summaries)),
        "permutations": str(params.nulls.permutations),
        "size-matched-draws": str(params.nulls.size_matched_draws),
        "ci-draws": str(params.nulls.ci_draws),
        "rsa-paper-max-n": str(params.nulls.rsa_paper_max_n),
        "rsa-paper-skipped": str(
            sum(r["status"] == "ok" and r["rsa_paper"]["observed"] is None for r in main["records"] + main["buckets"])
        ),
        "ci-fraction": fmt_share(params.nulls.ci_fraction),
        "ci-level": fmt_share(params.nulls.ci_level),
        **_filter_macros(params, summaries),
        "svcca-variance": f"{100 * params.similarity.svcca_variance:.0f}\\%",
        "unique-partner-share": fmt_share(float(np.mean([s["unique_partner_share"] for s in summaries]))),
        "mutual-share": fmt_share(float(np.mean([s["mutual_share"] for s in summaries]))),
        "max-multiplicity": str(max(s["max_multiplicity"] for s in summaries)),
        **_dead_feature_macros(summaries),
        **_setup_macros(main["setup"]),
        **_score_macros(main["records"]),
        "n-buckets": str(len({r["subset"] for r in main["buckets"]})),
        "min-pairs": str(MIN_PAIRS),
        "collapse-level": fmt_share(params.collapse.level),
    }
    numbers |= {f"planted-{key}": value for key, value in _planted_macros(main["records"]).items()}
    for role, records in planted.items():
        prefix = role.replace("_", "-")
        quoted = (_score_macros(records) | _planted_macros(records)).items()
        numbers |= {f"{prefix}-{key}": value for key, value in quoted if key in PLANTED_QUOTED}
    numbers["planted-verdict"] = planted_verdict(planted["planted_related"], planted["planted_unrelated"])
    return numbers


def numbers_tex(params: Params, main: dict[str, Any], planted: dict[str, list[dict[str, Any]]], extra: dict[str, str]) -> str:
    """The macro file: every number of `number_macros` and the `extra` ones (another section's), each defined once."""
    numbers = number_macros(params, main, planted)
    clashes = sorted(set(numbers) & set(extra))
    if clashes:
        raise ValueError(f"number macros defined twice: {clashes}")
    numbers |= extra
    body = "".join(f"\\uvdefine{{{key}}}{{{value}}}\n" for key, value in sorted(numbers.items()))
    return GENERATED_HEADER + body
