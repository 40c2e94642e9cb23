"""Stage `subspaces`: the 1-1 pairs split by what their features fire on, per layer pair of a comparison.

Writes results/<comparison>/subspaces/: `results.json` with
- `identity`: per layer pair the token-identity pairs among the 1-1 pairs, the scores with and
  without them, and the scores of the pairs' top-token embedding rows (the reference);
- `categories`, `sizes`, `grid`: the semantic categories, how many tokens and features of each
  layer carry each, and per category and layer pair the 1-1 pairs inside it with their scores,
  nulls and Benjamini-Hochberg q-values over the whole grid;
and `metrics.json`. Comparisons with `sensitivity: false`, and token sets without text, get a status.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from universality import io, layout
from universality.artifacts import provenance
from universality.errors import InputError
from universality.layer_pairs import read_layer_pair
from universality.pairing.contexts import top_activations, top_token_ids
from universality.pairing.subsets import one_to_one
from universality.params.schema import Params
from universality.similarity.engine import engine_for
from universality.similarity.nulls import family_q_values, null_settings
from universality.similarity.scoring import feature_pools, pairs_digest, score_pairs
from universality.subspaces.categories import feature_categories, lexname_labels, pairs_in_category, word_list_labels
from universality.subspaces.identity import identity_pairs, identity_tokens, top_token_rows
from universality.token_sets import TokenText, load_token_text

log = logging.getLogger(__name__)


def category_labels(params: Params, token_set: str, text: TokenText) -> tuple[list[str], np.ndarray]:
    """The categories and each counted token's label (-1: none), by the rule `subspaces.rule`."""
    settings = params.subspaces
    if settings.rule == "word_lists":
        return list(settings.word_lists), word_list_labels(text.token_ids, text.vocabulary, settings.word_lists)
    documents = io.read_parquet(layout.tokens(token_set) / "documents.parquet")
    if "lexname" not in documents:
        raise InputError(f"subspaces.rule is lexname but token set {token_set!r} has no WordNet lexicographer files; use rule word_lists")
    return list(settings.lexnames), lexname_labels(text.documents, documents, settings.lexnames)


def _scores(pairs, rows_a, rows_b, pools, engine, nulls, seed) -> dict:
    scores = score_pairs(pairs, rows_a, rows_b, pools, engine, nulls, seed)
    scores.pop("null_scores", None)
    return scores | {"pairs_digest": pairs_digest(pairs)}


def run(params: Params, name: str) -> None:
    """Token-identity control and semantic subspaces of comparison NAME's 1-1 pairs (its `sensitivity: true` comparisons only)."""
    comparison, settings = params.comparisons[name], params.subspaces
    text = load_token_text(layout.tokens(comparison.tokens))
    status = "ok" if comparison.sensitivity and text is not None else "not analysed" if text is not None else "no token text"
    if status != "ok":
        log.info("%s: no subspace analysis (%s)", name, status)
        _write(name, {"status": status, "identity": [], "categories": [], "sizes": {}, "grid": []}, {})
        return
    from universality.sources.language_models import load_language_model  # TransformerLens: loaded only where the grid runs

    categories, labels = category_labels(params, comparison.tokens, text)
    embeddings = [
        load_language_model(params, params.sources[source].model)[0].W_E.detach().cpu().numpy() for source in (comparison.a, comparison.b)
    ]
    engine, nulls, rule = engine_for(params), null_settings(params.nulls), params.subsets.one_to_one
    sizes: dict[str, dict[str, Any]] = {
        category: {"tokens": int((labels == c).sum()), "a": {}, "b": {}} for c, category in enumerate(categories)
    }
    identity: list[dict[str, Any]] = []
    grid: dict[str, list[dict[str, Any]]] = {category: [] for category in categories}
    for layer_a, layer_b in params.layer_pairs(name):
        log.info("subspaces of %s, layer pair L%d-L%d", name, layer_a, layer_b)
        inputs = read_layer_pair(params, name, layer_a, layer_b)
        caches, seed = (inputs.cache_a, inputs.cache_b), [params.nulls.seed, layer_a, layer_b]
        pairs, edges, reverse = inputs.pairs, inputs.edges, inputs.reverse
        one = one_to_one(pairs[pairs["kept"]], rule, edges[edges["kept"]]).pairs
        W = (inputs.cache_a.W_dec, inputs.cache_b.W_dec)
        pools = feature_pools(*W, pairs, reverse)
        top_rows = [top_activations(cache.codes, settings.top_k) for cache in caches]
        top_ids = [top_token_ids(rows, text.token_ids) for rows in top_rows]

        tokens = [identity_tokens(ids, settings.identity_share) for ids in top_ids]
        mask = identity_pairs(one, *tokens)
        E = (top_token_rows(embeddings[0], top_ids[0]), top_token_rows(embeddings[1], top_ids[1]))
        identity.append({"layer_a": layer_a, "layer_b": layer_b, "n": len(one), "identity_pairs": int(mask.sum()),
                         "identity_share": float(mask.mean()) if len(one) else None,
                         "identity_features_a": int((tokens[0] >= 0).sum()), "identity_features_b": int((tokens[1] >= 0).sum()),
                         "all": _scores(one, *W, pools, engine, nulls, seed),
                         "without_identity": _scores(one[~mask].reset_index(drop=True), *W, pools, engine, nulls, seed),
                         "embedding": _scores(one, *E, feature_pools(*E, pairs, reverse), engine, nulls, seed)})  # fmt: skip

        assigned = [feature_categories(rows, labels, len(categories), settings.min_share) for rows in top_rows]
        for c, category in enumerate(categories):
            sizes[category]["a"][str(layer_a)] = int((assigned[0] == c).sum())
            sizes[category]["b"][str(layer_b)] = int((assigned[1] == c).sum())
            inside = pairs_in_category(one, *assigned, c)
            grid[category].append(
                {"layer_a": layer_a, "layer_b": layer_b, "category": category} | _scores(inside, *W, pools, engine, nulls, seed)
            )
    family_q_values(grid)  # one family: every category at every layer pair
    cells = [record for records in grid.values() for record in records]
    results = {"status": "ok", "rule": _rule(params), "identity": identity, "categories": categories, "sizes": sizes, "grid": cells}
    _write(name, results, _headline(identity, cells))


def _write(name: str, results: dict, metrics: dict) -> None:
    with provenance.writing_set(layout.subspaces(name)) as directory:
        io.write_json(directory / "results.json", results)
    io.write_json(layout.stage_metrics(name, "subspaces"), metrics)


def _rule(params: Params) -> dict:
    s = params.subspaces
    return {"rule": s.rule, "top_k": s.top_k, "min_share": s.min_share, "identity_share": s.identity_share}


def _headline(identity: list[dict], cells: list[dict]) -> dict:
    """What `dvc metrics show` lists: the token-identity share per layer pair, the grid's size and its cells significant after FDR."""
    scored = [cell for cell in cells if cell["status"] == "ok"]
    significant = sum(1 for cell in scored if (cell["rsa"]["size_matched"].get("q") or 1.0) <= 0.05)
    return {"identity_share": {f"L{r['layer_a']}_L{r['layer_b']}": r["identity_share"] for r in identity},
            "grid_cells": len(cells), "grid_cells_scored": len(scored), "grid_rsa_significant_q05": significant}  # fmt: skip
