"""The sensitivity grid: the paper's setting with one choice changed at a time.

Groups of variants, each holding the paper's own setting (`baseline`) among the others:
- `rule`: the four 1-1 rules (`pairing.subsets.ONE_TO_ONE_RULES`);
- `direction`: B's features take an A partner (the paper's), or A's take a B partner;
- `min_correlation`: the correlation filter's thresholds (`sensitivity.min_correlations`);
- `non_concept`: the non-concept filter off, or on with each top-k (`sensitivity.non_concept_top_k`);
- `held_out`: the held-out re-estimate off and on;
- `tokens`: pairing on the first windows only (`sensitivity.token_fractions` of the analysis windows).
Variants with the same filters, direction and tokens share one pairing.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from universality.pairing.subsets import ONE_TO_ONE_RULES
from universality.params.schema import Filters, Params

GROUPS = {"rule": "1-1 rule", "direction": "direction", "min_correlation": "$r$ threshold", "non_concept": "non-concept filter",
          "held_out": "held-out $r$", "tokens": "tokens"}  # fmt: skip
DIRECTIONS = {"b_to_a": "B $\\to$ A", "a_to_b": "A $\\to$ B"}


@dataclass(frozen=True)
class Variant:
    group: str  # a key of GROUPS
    value: str  # the setting: a rule, a direction (keys of ONE_TO_ONE_RULES, DIRECTIONS), a number, "off", "top k", a fraction
    baseline: bool  # the paper's own setting
    filters: Filters
    rule: str  # a key of ONE_TO_ONE_RULES
    direction: str  # a key of DIRECTIONS: which side's features take a partner on the other side
    token_fraction: float  # share of the analysis windows paired (the first ones)

    @property
    def pairing_key(self) -> str:
        """What the pairing depends on: variants with equal keys share one pairing."""
        return json.dumps([dataclasses.asdict(self.filters), self.direction, self.token_fraction], sort_keys=True)


def _fraction_label(fraction: float) -> str:
    return "all" if fraction == 1.0 else f"1/{round(1 / fraction)}" if (1 / fraction).is_integer() else f"{fraction:g}"


def variants(params: Params) -> list[Variant]:
    """Every variant of the grid, group by group, each group holding the paper's setting."""
    filters, rule, settings = params.filters, params.subsets.one_to_one, params.sensitivity
    base = Variant("rule", rule, True, filters, rule, "b_to_a", 1.0)
    out = [dataclasses.replace(base, value=name, baseline=name == rule, rule=name) for name in ONE_TO_ONE_RULES]
    out += [dataclasses.replace(base, group="direction", value=d, baseline=d == "b_to_a", direction=d) for d in DIRECTIONS]
    for threshold in settings.min_correlations:
        changed = dataclasses.replace(filters, min_correlation=threshold)
        out.append(dataclasses.replace(base, group="min_correlation", value=f"{threshold:g}", baseline=changed == filters, filters=changed))
    non_concept = [dataclasses.replace(filters.non_concept, enabled=False)]
    non_concept += [dataclasses.replace(filters.non_concept, enabled=True, top_k=k) for k in settings.non_concept_top_k]
    for setting in non_concept:
        changed = dataclasses.replace(filters, non_concept=setting)
        value = f"top {setting.top_k}" if setting.enabled else "off"
        out.append(dataclasses.replace(base, group="non_concept", value=value, baseline=changed == filters, filters=changed))
    for enabled in (False, True):
        changed = dataclasses.replace(filters, held_out=dataclasses.replace(filters.held_out, enabled=enabled))
        out.append(
            dataclasses.replace(base, group="held_out", value="on" if enabled else "off", baseline=changed == filters, filters=changed)
        )
    for fraction in settings.token_fractions:
        out.append(
            dataclasses.replace(base, group="tokens", value=_fraction_label(fraction), baseline=fraction == 1.0, token_fraction=fraction)
        )
    return out


def first_windows(windows: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the tokens in the first `fraction` of the windows (by window index; at least one window)."""
    distinct = np.unique(windows)
    keep = distinct[: max(1, round(fraction * len(distinct)))]
    return np.isin(windows, keep)


def partner_agreement(pairs, reference) -> float | None:
    """Share of the B features paired in both pairings (columns b_feature, a_partner) that keep the reference's partner."""
    both = pairs.merge(reference, on="b_feature", suffixes=("", "_reference"))
    return float((both["a_partner"] == both["a_partner_reference"]).mean()) if len(both) else None
