"""Filters on candidate pairs (A feature, B feature, r), applied in order, each optional.

1. correlation: keep r > min_correlation (the paper's filter);
2. non-concept: drop a pair if either feature's top-activating tokens are mostly of the
   excluded token classes (punctuation, whitespace, special tokens, ...), and require the two
   features' top tokens to share at least `min_overlap` distinct token ids;
3. held-out: re-estimate r on tokens the pairing never saw and keep r_held_out > min_correlation
   (a feature silent on those tokens has no held-out r, shown as NaN, and the pair is removed).

Each filter reports how many pairs it removed where it stands in the order, and how many it
would remove alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from universality.errors import InputError
from universality.pairing.contexts import top_activations, top_token_ids
from universality.pairing.correlation import correlation_from_moments, feature_stats

FILTERS = ("correlation", "non_concept", "held_out")


@dataclass(frozen=True)
class FeatureTokens:
    """Per feature: top-activating token ids (features x k, -1 padded) and the non-concept flag."""

    top_ids: np.ndarray
    non_concept: np.ndarray


def feature_tokens(codes: sp.spmatrix, token_ids: np.ndarray, excluded: np.ndarray, top_k: int, max_share: float) -> FeatureTokens:
    """Top tokens of every feature; non-concept when at least `max_share` of them are excluded ids."""
    top_ids = top_token_ids(top_activations(codes, top_k), token_ids)
    present = top_ids >= 0
    excluded_count = (excluded[np.maximum(top_ids, 0)] & present).sum(axis=1)
    share = excluded_count / np.maximum(present.sum(axis=1), 1)
    return FeatureTokens(top_ids=top_ids, non_concept=present.any(axis=1) & (share >= max_share))


def top_token_overlap(top_a: np.ndarray, top_b: np.ndarray) -> np.ndarray:
    """Number of distinct token ids shared by each row of top_a and the same row of top_b."""
    first_of_its_id = ~np.triu(top_a[:, :, None] == top_a[:, None, :], k=1).any(axis=1)
    shared = (top_a[:, :, None] == top_b[:, None, :]).any(axis=2)
    return ((top_a >= 0) & first_of_its_id & shared).sum(axis=1)


def edge_correlations(codes_a: sp.spmatrix, codes_b: sp.spmatrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each pair (a[e], b[e]) over the tokens of the codes (NaN if either is silent)."""
    stats_a, stats_b = feature_stats(codes_a), feature_stats(codes_b)
    cols_a = sp.csc_matrix(codes_a, dtype=np.float64)[:, a]
    cols_b = sp.csc_matrix(codes_b, dtype=np.float64)[:, b]
    cross = np.asarray(cols_a.multiply(cols_b).sum(axis=0)).ravel() / codes_a.shape[0]
    live = stats_a.live[a] & stats_b.live[b]
    r = np.full(len(a), np.nan)
    r[live] = correlation_from_moments(
        cross[live], stats_a.mean[a][live], stats_a.std[a][live], stats_b.mean[b][live], stats_b.std[b][live]
    )
    return r


def held_out_groups(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Token mask holding out a seeded `fraction` of the groups (windows), whole groups at a time."""
    distinct = np.unique(groups)
    n_held = round(fraction * len(distinct))
    if not 0 < n_held < len(distinct):
        raise InputError(
            f"filters.held_out.fraction = {fraction} holds out {n_held} of {len(distinct)} windows; choose a fraction that leaves both sides non-empty"
        )
    held = np.random.default_rng(seed).choice(distinct, size=n_held, replace=False)
    return np.isin(groups, held)


@dataclass(frozen=True)
class FilterSettings:
    min_correlation: float | None
    tokens: tuple[FeatureTokens, FeatureTokens] | None  # non-concept filter on when given
    min_overlap: int
    held_out_min_correlation: float | None  # held-out filter on when given (needs the r_held_out column)


def filter_flags(edges: pd.DataFrame, settings: FilterSettings) -> pd.DataFrame:
    """Per edge (columns a, b, r[, r_held_out]): whether it passes each enabled filter, and `kept`.

    Adds the evidence columns `top_token_overlap`, `non_concept_a`, `non_concept_b` when the
    non-concept filter is on. Filters that are off pass everything.
    """
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    flags = pd.DataFrame(index=edges.index)
    flags["pass_correlation"] = True if settings.min_correlation is None else edges["r"].to_numpy() > settings.min_correlation
    if settings.tokens is not None:
        tokens_a, tokens_b = settings.tokens
        flags["non_concept_a"] = tokens_a.non_concept[a]
        flags["non_concept_b"] = tokens_b.non_concept[b]
        flags["top_token_overlap"] = top_token_overlap(tokens_a.top_ids[a], tokens_b.top_ids[b])
        flags["pass_non_concept"] = ~flags["non_concept_a"] & ~flags["non_concept_b"] & (flags["top_token_overlap"] >= settings.min_overlap)
    else:
        flags["pass_non_concept"] = True
    if settings.held_out_min_correlation is not None:
        flags["pass_held_out"] = edges["r_held_out"].fillna(-np.inf).to_numpy() > settings.held_out_min_correlation
    else:
        flags["pass_held_out"] = True
    flags["kept"] = flags[[f"pass_{name}" for name in FILTERS]].all(axis=1)
    return flags


def passes_feature_filters(settings: FilterSettings, side: str, features: np.ndarray) -> np.ndarray:
    """Whether each feature of side "a" or "b" passes the per-feature part of the filters (it is not non-concept)."""
    if settings.tokens is None:
        return np.ones(len(features), dtype=bool)
    return ~settings.tokens["ab".index(side)].non_concept[features]


def removal_report(flags: pd.DataFrame, settings: FilterSettings) -> dict:
    """How many pairs each filter removed, in order and alone, and how many are kept."""
    enabled = {
        "correlation": settings.min_correlation is not None,
        "non_concept": settings.tokens is not None,
        "held_out": settings.held_out_min_correlation is not None,
    }
    report: dict = {"pairs": len(flags)}
    surviving = np.ones(len(flags), dtype=bool)
    for name in FILTERS:
        passed = flags[f"pass_{name}"].to_numpy()
        report[name] = {"enabled": enabled[name], "removed": int((surviving & ~passed).sum()), "removed_alone": int((~passed).sum())}
        surviving &= passed
    report["kept"] = int(surviving.sum())
    return report
