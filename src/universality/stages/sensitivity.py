"""Stage `sensitivity`: the main 1-1 scores under every variant of the pairing, per layer pair of a comparison.

Writes results/<comparison>/sensitivity/: `results.json` (one record per layer pair and
variant: its setting, how many tokens it paired on, the kept pairs, the 1-1 set's size, the
share of B features that keep their partner of the paper's pairing, every score with its
nulls) and `metrics.json`. Comparisons with `sensitivity: false` get empty files.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from tqdm.auto import tqdm

from universality import io, layout
from universality.activations.cache import ActivationCache, load_layer_pair
from universality.artifacts import provenance
from universality.executors import Unit, run_units
from universality.pairing.layer_pair import pair_layers
from universality.pairing.subsets import one_to_one
from universality.params.schema import Params
from universality.sensitivity.variants import Variant, first_windows, partner_agreement, variants
from universality.similarity.engine import engine_for
from universality.similarity.nulls import null_settings
from universality.similarity.scoring import feature_pools, pairs_digest, score_pairs
from universality.token_sets import TokenText, load_token_text

log = logging.getLogger(__name__)


def pair_variant(params: Params, variant: Variant, caches: tuple[ActivationCache, ActivationCache], text: TokenText | None):
    """The variant's pairing and the decoder rows of its partner side and its query side."""
    windows = text.positions[:, 0] if text is not None else np.arange(caches[0].codes.shape[0])
    rows = np.flatnonzero(first_windows(windows, variant.token_fraction))
    cache_a, cache_b = (dataclasses.replace(cache, codes=cache.codes[rows]) for cache in caches)
    text = None if text is None else text.rows(rows)
    if variant.direction == "a_to_b":
        cache_a, cache_b = cache_b, cache_a
    tables = pair_layers(cache_a, cache_b, (text, text), params.pairing, variant.filters, params.hubs)
    return tables, len(rows), (cache_a.W_dec, cache_b.W_dec)


def _record(variant: Variant, layer_pair: tuple[int, int], pairing: tuple, reference, score) -> dict:
    """One variant at one layer pair: its setting, what its pairing kept, its 1-1 set's scores (from `score`)."""
    tables, n_tokens, W = pairing
    pairs, edges = tables.pairs, tables.edges
    subset = one_to_one(pairs[pairs["kept"]], variant.rule, edges[edges["kept"]]).pairs
    agreement = partner_agreement(pairs[["b_feature", "a_partner"]], reference) if variant.direction == "b_to_a" else None
    return {"layer_a": layer_pair[0], "layer_b": layer_pair[1], "group": variant.group, "value": variant.value, "baseline": variant.baseline,
            "rule": variant.rule, "direction": variant.direction, "token_fraction": variant.token_fraction, "tokens_paired": n_tokens,
            "kept_pairs": int(pairs["kept"].sum()), "distinct_a": int(subset["a_partner"].nunique()), "partner_agreement": agreement,
            "pairs_digest": pairs_digest(subset)} | score(variant.pairing_key, subset, W, tables)  # fmt: skip


def _headline(records: list[dict]) -> dict:
    """What `dvc metrics show` lists: per layer pair and variant, the 1-1 set's size and its SVCCA and RSA."""
    out: dict = {}
    for record in records:
        scores = {metric: record[metric]["observed"] for metric in ("svcca", "rsa") if record["status"] == "ok"}
        out.setdefault(f"L{record['layer_a']}_L{record['layer_b']}", {})[f"{record['group']}={record['value']}"] = {
            "n": record["n"]
        } | scores
    return out


def _scorer(engine, settings, seed: list[int]):
    """score(pairing_key, subset, W, tables) for one layer pair, memoised: rules of one pairing that give the same 1-1 set share its scores."""
    scored: dict = {}

    def score(pairing_key, subset, W, tables):
        key = (pairing_key, pairs_digest(subset))
        if key not in scored:
            pools = feature_pools(*W, tables.pairs, tables.reverse)
            scored[key] = score_pairs(subset, *W, pools, engine, settings, seed)
            scored[key].pop("null_scores", None)
        return scored[key]

    return score


def run(params: Params, name: str) -> None:
    """Score the 1-1 pairs of comparison NAME under every variant of the sensitivity grid (its `sensitivity: true` comparisons only)."""
    if not params.comparisons[name].sensitivity:
        log.info("%s: no sensitivity grid (comparisons.%s.sensitivity is false)", name, name)
        _write(name, [], {})
        return
    units = [Unit(layer_pair, _layer_pair_records, (params, name, layer_pair)) for layer_pair in params.layer_pairs(name)]
    records = [record for layer_records in run_units(units, f"sensitivity {name}").values() for record in layer_records]
    _write(name, records, _headline(records))


def _layer_pair_records(params: Params, name: str, layer_pair: tuple[int, int]) -> list[dict]:
    """One unit: every variant of the grid at one layer pair, each pairing computed once and shared by its variants."""
    comparison = params.comparisons[name]
    text = load_token_text(layout.tokens(comparison.tokens))
    caches = load_layer_pair(comparison, *layer_pair)
    score = _scorer(engine_for(params), null_settings(params.nulls), [params.nulls.seed, *layer_pair])
    grid = variants(params)
    baseline = next(variant for variant in grid if variant.baseline)
    pairings = {baseline.pairing_key: pair_variant(params, baseline, caches, text)}
    reference = pairings[baseline.pairing_key][0].pairs[["b_feature", "a_partner"]]
    records = []
    for variant in tqdm(grid, desc=f"sensitivity {name} L{layer_pair[0]}-L{layer_pair[1]}", unit="variant"):
        if variant.pairing_key not in pairings:
            log.info("pairing %s L%d-L%d with %s = %s", name, *layer_pair, variant.group, variant.value)
            pairings[variant.pairing_key] = pair_variant(params, variant, caches, text)
        records.append(_record(variant, layer_pair, pairings[variant.pairing_key], reference, score))
    return records


def _write(name: str, records: list[dict], metrics: dict) -> None:
    with provenance.writing_set(layout.sensitivity(name)) as directory:
        io.write_json(directory / "results.json", records)
    io.write_json(layout.stage_metrics(name, "sensitivity"), metrics)
