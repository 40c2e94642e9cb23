"""One layer pair of a comparison, paired: the exact pairing, its filters, 1-1 rules and hubs.

`pair_layers` takes the two activation caches and the text of each side's tokens (None for
planted tokens, which have none; the same text on both sides unless B's windows are
shuffled) and returns every table the pair stage writes, with the summary that the report reads. With the held-out filter on, pairing, top tokens and hub contexts all
read the same tokens (those not held out), each mapped to its own text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from universality.activations.cache import ActivationCache
from universality.devices import resolve_device
from universality.pairing.contexts import context_text, token_classes, top_activations
from universality.pairing.correlation import Pairing, pair_dense, pair_sparse
from universality.pairing.filters import (
    FILTERS,
    FilterSettings,
    edge_correlations,
    feature_tokens,
    filter_flags,
    held_out_groups,
    passes_feature_filters,
    removal_report,
)  # fmt: skip
from universality.pairing.subsets import ONE_TO_ONE_RULES, collapse_stats, hubs, one_to_one
from universality.params.schema import Filters, Hubs, PairingSettings
from universality.token_sets import TokenText

log = logging.getLogger(__name__)

STRONG_R = 0.5  # a mutual nearest-neighbour pair at least this correlated is one feature found twice (the skyline's convergence)


@dataclass(frozen=True)
class LayerPairTables:
    pairs: pd.DataFrame  # one row per paired B feature: partner, r, runner-up, multiplicity, filter flags
    reverse: pd.DataFrame  # one row per paired A feature: its best B feature, whether it passes the per-feature filters
    edges: pd.DataFrame  # every pair with r above the correlation threshold (the 1-1 assignment's graph), with `kept`
    summary: dict
    hubs: list[dict]


def _held_out_tokens(settings: Filters, text: TokenText | None, n_tokens: int) -> np.ndarray:
    """Counted tokens held out from pairing: whole windows (or single planted tokens), seeded."""
    held = settings.held_out
    if not held.enabled:
        return np.zeros(n_tokens, dtype=bool)
    groups = text.positions[:, 0] if text is not None else np.arange(n_tokens)
    return held_out_groups(groups, held.fraction, held.seed)


def _run_pairing(settings: PairingSettings, codes_a: sp.csr_matrix, codes_b: sp.csr_matrix, edge_threshold: float) -> Pairing:
    shared = {"chunk_size": settings.chunk_size, "min_support": settings.min_support, "edge_threshold": edge_threshold}
    if settings.method == "sparse":
        return pair_sparse(codes_a, codes_b, prefix=settings.prefix, **shared)
    device = resolve_device(settings.device, "pairing.device")
    return pair_dense(codes_a, codes_b, token_chunk=settings.token_chunk, device=device, **shared)


def _filter_settings(settings: Filters, texts: tuple[TokenText | None, TokenText | None], codes_a, codes_b) -> FilterSettings:
    tokens = None
    text_a, text_b = texts
    if settings.non_concept.enabled and text_a is not None:
        assert text_b is not None, "both sides read the same token set"
        nc = settings.non_concept
        excluded = token_classes(text_a.vocabulary)[nc.token_classes].any(axis=1).to_numpy()
        tokens = tuple(
            feature_tokens(codes, text.token_ids, excluded, nc.top_k, nc.max_share)
            for codes, text in zip((codes_a, codes_b), (text_a, text_b), strict=True)
        )
    elif settings.non_concept.enabled:
        log.info("non-concept filter skipped: this token set has no text")
    held_min = settings.held_out.min_correlation if settings.held_out.enabled else None
    return FilterSettings(settings.min_correlation, tokens, settings.non_concept.min_overlap, held_min)


def _hub_records(settings: Hubs, pairs: pd.DataFrame, codes_a: sp.csr_matrix, text: TokenText | None) -> list[dict]:
    """The most-mapped A features with their top-activating contexts (none for planted tokens)."""
    table = hubs(pairs, settings.count)
    top_rows = top_activations(codes_a[:, table["a_feature"].to_numpy()], settings.contexts)
    records = []
    for row, hub in zip(top_rows, table.itertuples(), strict=True):
        record: dict[str, Any] = {"a_feature": int(hub.a_feature), "multiplicity": int(hub.multiplicity), "mean_r": float(hub.mean_r)}
        if text is not None:
            record["contexts"] = [
                context_text(text.windows, text.positions, token, text.vocabulary, settings.context_tokens) for token in row if token >= 0
            ]
        records.append(record)
    return records


def pair_layers(
    cache_a: ActivationCache,
    cache_b: ActivationCache,
    texts: tuple[TokenText | None, TokenText | None],
    pairing: PairingSettings,
    filters: Filters,
    hub_settings: Hubs,
) -> LayerPairTables:
    """Pair B's features with A's, filter the pairs, size every 1-1 rule and list the hubs."""
    held = _held_out_tokens(filters, texts[0], cache_a.codes.shape[0])
    codes_a, codes_b = cache_a.codes[~held], cache_b.codes[~held]
    text_a, text_b = (None if text is None else text.rows(np.flatnonzero(~held)) for text in texts)
    texts = (text_a, text_b)
    result = _run_pairing(pairing, codes_a, codes_b, filters.min_correlation or 0.0)
    settings = _filter_settings(filters, texts, codes_a, codes_b)
    pairs, edges = result.pairs, result.edges
    if settings.held_out_min_correlation is not None:
        held_a, held_b = cache_a.codes[held], cache_b.codes[held]
        pairs["r_held_out"] = edge_correlations(held_a, held_b, pairs["a_partner"].to_numpy(), pairs["b_feature"].to_numpy())
        edges["r_held_out"] = edge_correlations(held_a, held_b, edges["a"].to_numpy(), edges["b"].to_numpy())
    flags = filter_flags(pairs.rename(columns={"a_partner": "a", "b_feature": "b"}), settings)
    pairs = pd.concat([pairs, flags], axis=1)
    edges["kept"] = filter_flags(edges, settings)["kept"]
    reverse = result.reverse
    pairs["b_passes_feature_filters"] = passes_feature_filters(settings, "b", pairs["b_feature"].to_numpy())
    reverse["passes_feature_filters"] = passes_feature_filters(settings, "a", reverse["a_feature"].to_numpy())
    removed = removal_report(flags, settings)
    log.info("filters removed %s", {name: removed[name]["removed"] for name in FILTERS})

    kept = pairs[pairs["kept"]]
    pairable_a, pairable_b = len(reverse), len(pairs)
    rules = {}
    for rule in ONE_TO_ONE_RULES:
        subset = one_to_one(kept, rule, edges[edges["kept"]])
        rules[rule] = {"n": len(subset.pairs)} | collapse_stats(subset.pairs, pairable_a, pairable_b)
    summary = {
        "n_tokens": int(cache_a.codes.shape[0]),
        "n_tokens_pairing": int(codes_a.shape[0]),
        "n_features_a": result.n_features_a,
        "n_features_b": result.n_features_b,
        "dead_a": result.dead_a,
        "dead_b": result.dead_b,
        "min_support": pairing.min_support,
        "rare_a": result.rare_a,
        "rare_b": result.rare_b,
        "live_a": pairable_a,  # the summary's key names (kept for the published tables): the pairable features
        "live_b": pairable_b,
        "edges": len(edges),
        "distinct_partners": int(pairs["a_partner"].nunique()),
        "unique_partner_share": float((pairs["multiplicity"] == 1).mean()),
        "mutual_share": float(pairs["mutual"].mean()),
        "max_multiplicity": int(pairs["multiplicity"].max()),
        "unique_partners": int((pairs["multiplicity"] == 1).sum()),  # before the filters
        "mutual_strong": int((pairs["mutual"] & (pairs["r"].to_numpy() >= STRONG_R)).sum()),
        "d_model": max(int(cache_a.meta["d_model"]), int(cache_b.meta["d_model"])),
        "filters": removed,
        "one_to_one": rules,
        "collapse_all_kept": collapse_stats(kept, pairable_a, pairable_b),
    }
    return LayerPairTables(pairs, reverse, edges, summary, _hub_records(hub_settings, pairs, codes_a, texts[0]))
