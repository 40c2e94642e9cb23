"""The pipeline stages, one function each, as declared in dvc.yaml.

Each stage reads params.yaml and its inputs, and writes its outputs atomically under the
paths below. The computation lives in the other modules; these functions only wire it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from universality import io, report, figures
from universality.contexts import context_text, token_classes, top_activations, vocabulary_table
from universality.corpus import read_wordnet
from universality.extract import check_hooks, clear_scratch, encode, extract_model, library_versions, resolve_device
from universality.hub import hub_call
from universality.models import language_model_loss, load_hub_model, load_toy_model, save_toy_model, toy_config, train_toy_model
from universality.nulls import NullSettings, add_q_values, compare
from universality.filters import FILTERS, FilterSettings, edge_correlations, feature_tokens, filter_flags, held_out_groups, removal_report
from universality.permutations import METRICS
from universality.pairing import Pairing, candidate_edges, pair_dense, pair_sparse
from universality.params import Params
from universality.saes import load_pretrained_sae, load_sae, save_sae, train_lm_sae, train_planted_sae
from universality.store import ActivationCache, cache_path, load_cache, save_cache
from universality.subsets import ONE_TO_ONE_RULES, collapse_stats, cumulative_buckets, hubs, one_to_one, range_buckets
from universality.synthetic import (
    PlantedModel,
    firing_probabilities,
    planted_labels,
    planted_models,
    planted_recovery,
    sample_latents,
)
from universality.tokenization import (
    BOS,
    PAD,
    TokenSet,
    hub_documents,
    load_token_set,
    pack_documents,
    save_token_set,
    split_windows,
    tokenize_documents,
    train_bpe,
)

log = logging.getLogger(__name__)

TOKENS = Path("data/tokens/tokens.safetensors")
TOKENIZER = Path("data/tokens/tokenizer.json")
DOCUMENTS = Path("data/tokens/documents.parquet")
VOCABULARY = Path("data/tokens/vocabulary.parquet")
MODELS = Path("data/models")
LM_METRICS = Path("results/models/lm.json")
SAES = Path("data/saes")
EXTRACT = Path("data/extract")
EXTRACT_SCRATCH = Path("data/extract_scratch")
EXTRACT_METRICS = Path("results/extract/quality.json")
PAIR = Path("results/pair")
MAIN = Path("results/main_one_to_one")
APPENDIX = Path("results/appendix_buckets")
GENERATED = Path("paper/generated")
FIGURES = Path("figures")
PAPER_SOURCE = Path("paper/main.tex")
PAPER_PDF = Path("paper/main.pdf")
LATEX_BUILD = Path("build")
EXTRACT_BATCH = 4096
HUBS_PER_LAYER_PAIR = 3  # hubs shown in the appendix table; results/pair/hubs.json holds params.hubs.count


def layer_pair_key(layer_a: int, layer_b: int) -> str:
    return f"L{layer_a}_L{layer_b}"


def sae_directory(name: str, layer: int) -> Path:
    return SAES / f"{name}_L{layer}"


# --- tokens ---------------------------------------------------------------------------------


def tokens(params: Params) -> None:
    """The fixed token set and its hash (toy: WordNet + BPE; synthetic: planted latents)."""
    if params.experiment == "synthetic":
        _synthetic_tokens(params)
    elif params.experiment == "toy":
        _toy_tokens(params)
    else:
        _hub_tokens(params)


def _toy_tokens(params: Params) -> None:
    corpus = params.toy.corpus
    documents = read_wordnet(corpus.wordnet_dir)
    documents = documents.iloc[np.random.default_rng(params.seed).permutation(len(documents))].reset_index(drop=True)
    log.info("training a %d-token BPE vocabulary on %d WordNet glosses", corpus.vocab_size, len(documents))
    tokenizer = train_bpe(documents["text"], corpus.vocab_size)
    ids = tokenize_documents(documents["text"].tolist(), lambda texts: [e.ids for e in tokenizer.encode_batch(texts)])
    windows, owners = pack_documents(ids, corpus.context_length, tokenizer.token_to_id(BOS), tokenizer.token_to_id(PAD))
    token_set = TokenSet(windows, owners, split_windows(len(windows), corpus.analysis_windows, params.seed))
    texts = [tokenizer.decode([i], skip_special_tokens=False) for i in range(tokenizer.get_vocab_size())]
    io.write_parquet(VOCABULARY, vocabulary_table(texts, {tokenizer.token_to_id(BOS), tokenizer.token_to_id(PAD)}))
    _save_token_set(params, token_set, documents, {
        "vocab_size": str(tokenizer.get_vocab_size()), "bos_id": str(tokenizer.token_to_id(BOS)), "pad_id": str(tokenizer.token_to_id(PAD)),
    })  # fmt: skip
    io.write_text(TOKENIZER, tokenizer.to_str(pretty=True))


def _hub_tokens(params: Params) -> None:
    from transformers import AutoTokenizer
    from transformer_lens.loading_from_pretrained import get_official_model_name

    hub = getattr(params, params.experiment)
    model_name = hub.models[params.model_names()[0]].model_name
    official = get_official_model_name(model_name)
    tokenizer = hub_call(f"tokenizer of {official}", lambda: AutoTokenizer.from_pretrained(official))
    texts = hub_documents(hub.tokens.dataset, hub.tokens.split, hub.tokens.documents)
    ids = tokenize_documents(texts, lambda batch: tokenizer(batch, add_special_tokens=False)["input_ids"])
    bos = tokenizer.bos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else bos
    windows, owners = pack_documents(ids, hub.tokens.context_length, bos, pad)
    token_set = TokenSet(windows, owners, np.ones(len(windows), dtype=bool))
    vocabulary = [tokenizer.decode([i]) for i in range(len(tokenizer))]
    io.write_parquet(VOCABULARY, vocabulary_table(vocabulary, set(tokenizer.all_special_ids) | {bos, pad}))
    documents = pd.DataFrame({"text": texts})
    _save_token_set(params, token_set, documents, {"vocab_size": str(len(tokenizer)), "bos_id": str(bos), "pad_id": str(pad), "tokenizer": official})


def _save_token_set(params: Params, token_set: TokenSet, documents: pd.DataFrame, metadata: dict[str, str]) -> None:
    windows, mask = token_set.analysis_windows()
    log.info(
        "token set: %d windows, %d analysis windows with %d counted tokens, hash %s",
        len(token_set.windows), len(windows), int(mask.sum()), token_set.token_hash[:12],
    )  # fmt: skip
    save_token_set(TOKENS, token_set, {"experiment": params.experiment, **metadata})
    io.write_parquet(DOCUMENTS, documents)


def _synthetic_tokens(params: Params) -> None:
    syn = params.synthetic
    probabilities = firing_probabilities(syn, params.seed)
    latents = sample_latents(syn, probabilities, syn.n_tokens, seed=params.seed)
    mask = np.ones(syn.n_tokens, dtype=np.uint8)
    token_hash = io.sha256_arrays(latents.indptr, latents.indices, latents.data, mask)
    log.info("token set: %d tokens, %.2f latent features per token, hash %s", syn.n_tokens, latents.nnz / syn.n_tokens, token_hash[:12])
    io.write_tensors(
        TOKENS,
        {
            "latent_indptr": latents.indptr.astype(np.int64),
            "latent_indices": latents.indices.astype(np.int32),
            "latent_values": latents.data,
            "firing_probabilities": probabilities,
            "mask": mask,
        },
        metadata={"token_hash": token_hash, "n_tokens": str(syn.n_tokens), "experiment": params.experiment},
    )


def _load_synthetic_tokens() -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, str]:
    tensors = io.read_tensors(TOKENS)
    if "latent_indptr" not in tensors:
        raise ValueError(f"{TOKENS} is not a synthetic token set: rebuild it with `dvc repro tokens`")
    n_world = len(tensors["firing_probabilities"])
    latents = sp.csr_matrix(
        (tensors["latent_values"], tensors["latent_indices"], tensors["latent_indptr"]),
        shape=(len(tensors["mask"]), n_world),
    )
    token_hash = io.sha256_arrays(tensors["latent_indptr"], tensors["latent_indices"], tensors["latent_values"], tensors["mask"])
    return latents, tensors["firing_probabilities"], tensors["mask"].astype(bool), token_hash


def _token_metadata() -> dict[str, str]:
    return io.read_tensor_metadata(TOKENS)


# --- models ---------------------------------------------------------------------------------


def models(params: Params) -> None:
    """The two models (toy: trained here; synthetic: planted dictionaries; hub: named)."""
    metrics: dict = {}
    if params.experiment == "synthetic":
        for name, model in planted_models(params).items():
            log.info("planted model %s: %d features in %d dimensions", name, *model.feature_vectors.shape)
            io.write_tensors(MODELS / f"{name}.safetensors", {"feature_vectors": model.feature_vectors, "world_ids": model.world_ids})
    elif params.experiment == "toy":
        token_set, meta = load_token_set(TOKENS), _token_metadata()
        analysis, _ = token_set.analysis_windows()
        for name, spec in params.toy.models.items():
            config = toy_config(spec, int(meta["vocab_size"]), params.toy.corpus.context_length)
            log.info("training toy model %s: %d layers, d_model %d, on %d windows", name, spec.n_layers, spec.d_model, len(token_set.training_windows()))
            model = train_toy_model(config, token_set.training_windows(), params.toy.lm_training)
            loss = language_model_loss(model, analysis, int(meta["pad_id"]))
            log.info("model %s: held-out loss %.3f nats per token", name, loss)
            save_toy_model(model, MODELS / name)
            metrics[name] = {"loss": loss, "parameters": sum(p.numel() for p in model.parameters())}
    else:
        for name, spec in params.models().items():
            io.write_json(MODELS / f"{name}.json", {"model_name": spec.model_name, "layers": spec.layers})
    io.write_json(LM_METRICS, metrics)


def _load_planted_model(name: str) -> PlantedModel:
    tensors = io.read_tensors(MODELS / f"{name}.safetensors")
    return PlantedModel(feature_vectors=tensors["feature_vectors"], world_ids=tensors["world_ids"])


def _load_language_model(params: Params, name: str, device: str):
    if params.experiment == "toy":
        return load_toy_model(MODELS / name, device=device)
    return load_hub_model(params.models()[name].model_name, device=device)


# --- SAEs -----------------------------------------------------------------------------------


def saes(params: Params) -> None:
    """One SAE per model and layer (toy, synthetic: trained with SAELens; hub: named)."""
    if params.experiment == "synthetic":
        _, probabilities, _, _ = _load_synthetic_tokens()
        for index, (name, spec) in enumerate(params.models().items()):
            log.info("training SAE %s: d_in %d -> d_sae %d, k %d", name, spec.d_model, spec.d_sae, spec.k)
            sae = train_planted_sae(
                _load_planted_model(name), spec, params.synthetic, probabilities, params.synthetic.sae_training, params.seed + 100 + index
            )
            save_sae(sae, sae_directory(name, 0))
    elif params.experiment == "toy":
        training_windows, meta = load_token_set(TOKENS).training_windows(), _token_metadata()
        for index, name in enumerate(params.toy.models):
            model = load_toy_model(MODELS / name)
            for layer in params.layers(name):
                spec = params.toy.saes[name]
                log.info("training SAE %s L%d on %s: d_sae %d, k %d", name, layer, params.hook_name(layer), spec.d_sae, spec.k)
                special = [int(meta["bos_id"]), int(meta["pad_id"])]
                seed = params.seed + 100 * (index + 1) + layer
                sae = train_lm_sae(model, params.hook_name(layer), training_windows, spec, params.toy.sae_training, special, seed)
                save_sae(sae, sae_directory(name, layer))
    else:
        for name, spec in params.models().items():
            for layer in spec.layers:
                entry = {"loader": spec.sae_loader, "release": spec.sae_release, "sae_id": spec.sae_id.format(layer=layer)}
                io.write_json(sae_directory(name, layer) / "pretrained.json", entry)


def _load_layer_sae(params: Params, name: str, layer: int, device: str):
    if params.experiment in ("toy", "synthetic"):
        return load_sae(sae_directory(name, layer), device=device)
    spec = params.models()[name]
    return load_pretrained_sae(spec.sae_loader, spec.sae_release, spec.sae_id.format(layer=layer), device)


# --- extraction and pairing -----------------------------------------------------------------


def extract(params: Params) -> None:
    """Sparse codes of every (model, layer) SAE over the token set, stored as CSR caches."""
    EXTRACT_SCRATCH.mkdir(parents=True, exist_ok=True)  # a declared output, even when nothing is checkpointed
    if params.experiment == "synthetic":
        quality = _extract_synthetic(params)
    else:
        quality = _extract_language_models(params)
    io.write_json(EXTRACT_METRICS, quality)


def _extract_synthetic(params: Params) -> dict:
    latents, _, mask, token_hash = _load_synthetic_tokens()
    quality = {}
    for name in params.models():
        model = _load_planted_model(name)
        activations = model.activations(latents[mask])
        sae = load_sae(sae_directory(name, 0))
        codes, metrics = encode(sae, activations, EXTRACT_BATCH, desc=f"extract {name}")
        log.info("%s: FVU %.4f, L0 %.2f, dead %.3f", name, metrics["fvu"], metrics["l0"], metrics["dead_fraction"])
        meta = _cache_meta(params, name, 0, "planted_activations", str(sae_directory(name, 0)), token_hash, codes, activations.shape[1], metrics, "cpu")
        save_cache(cache_path(EXTRACT, name, 0), ActivationCache(codes=codes, W_dec=sae.W_dec.detach().numpy(), meta=meta))
        quality[f"{name}_L0"] = metrics
    return quality


def _cache_meta(params, name, layer, hook, sae, token_hash, codes, d_model, quality, device) -> dict:
    return {
        "experiment": params.experiment,
        "model": name,
        "layer": layer,
        "hook_name": hook,
        "sae": sae,
        "token_hash": token_hash,
        "n_tokens": int(codes.shape[0]),
        "d_sae": int(codes.shape[1]),
        "d_model": int(d_model),
        "quality": quality,
        "versions": library_versions(),
        "device": device,
    }


def _extract_language_models(params: Params) -> dict:
    token_set = load_token_set(TOKENS)
    windows, mask = token_set.analysis_windows()
    device = resolve_device(params.extract.device)
    settings = params.extract
    quality = {}
    for name in params.models():
        model = _load_language_model(params, name, device)
        layers = params.layers(name)
        saes = {layer: _load_layer_sae(params, name, layer, device) for layer in layers}
        check = windows[: settings.hook_check_windows], mask[: settings.hook_check_windows]
        log.info("checking hooks of %s on %d windows", name, len(check[0]))
        hooks = check_hooks(model, saes, settings.hook, *check, settings.batch_windows, device)
        fingerprint = {
            "token_hash": token_set.token_hash,
            "model": _describe_model(params, name),
            "saes": {str(layer): _describe_sae(params, name, layer) for layer in layers},
            "hook": settings.hook,
            "batch_windows": settings.batch_windows,
            "chunk_windows": settings.chunk_windows,
            "device": device,
        }
        started = time.perf_counter()
        results = extract_model(
            model, saes, settings.hook, windows, mask,
            batch_windows=settings.batch_windows, chunk_windows=settings.chunk_windows,
            scratch=EXTRACT_SCRATCH / name, fingerprint=fingerprint, device=device, desc=f"extract {name}",
        )  # fmt: skip
        seconds = time.perf_counter() - started
        for layer, (codes, metrics) in results.items():
            metrics = metrics | {"hook_check": hooks[layer]}
            log.info("%s L%d: FVU %.4f (neighbour hook %.4f), L0 %.1f, dead %.3f", name, layer, metrics["fvu"],
                     hooks[layer]["neighbour_fvu"], metrics["l0"], metrics["dead_fraction"])  # fmt: skip
            W_dec = saes[layer].W_dec.detach().float().cpu().numpy()
            meta = _cache_meta(params, name, layer, params.hook_name(layer), fingerprint["saes"][str(layer)], token_set.token_hash,
                               codes, W_dec.shape[1], metrics, device)  # fmt: skip
            save_cache(cache_path(EXTRACT, name, layer), ActivationCache(codes=codes, W_dec=W_dec, meta=meta))
            quality[f"{name}_L{layer}"] = metrics
        log.info("%s: extracted %d tokens x %d layers at %.0f tokens/s on %s", name, int(mask.sum()), len(layers), mask.sum() / seconds, device)
        clear_scratch(EXTRACT_SCRATCH / name)
    return quality


def _describe_model(params: Params, name: str) -> str:
    if params.experiment == "toy":
        return io.sha256_file(MODELS / name / "model.safetensors")
    return params.models()[name].model_name


def _describe_sae(params: Params, name: str, layer: int) -> str:
    if params.experiment == "toy":
        return f"{sae_directory(name, layer)} sha256:" + io.sha256_file(sae_directory(name, layer) / "sae_weights.safetensors")
    spec = params.models()[name]
    return f"{spec.sae_loader}:{spec.sae_release}/{spec.sae_id.format(layer=layer)}"


def _load_pair_caches(params: Params, layer_a: int, layer_b: int) -> tuple[ActivationCache, ActivationCache]:
    name_a, name_b = params.model_names()
    cache_a, cache_b = load_cache(cache_path(EXTRACT, name_a, layer_a)), load_cache(cache_path(EXTRACT, name_b, layer_b))
    if cache_a.token_hash != cache_b.token_hash:
        raise ValueError(
            f"activation caches {name_a} L{layer_a} and {name_b} L{layer_b} come from different token sets "
            f"({cache_a.token_hash[:12]} vs {cache_b.token_hash[:12]}): rebuild them with `dvc repro extract`"
        )
    return cache_a, cache_b


@dataclass(frozen=True)
class TokenText:
    """Text side of the counted tokens: their ids, (window, offset) positions, the windows, the vocabulary."""

    token_ids: np.ndarray
    positions: np.ndarray
    windows: np.ndarray
    vocabulary: pd.DataFrame


def _token_text(params: Params) -> TokenText | None:
    """None for `synthetic`, whose tokens are planted latents without text."""
    if params.experiment == "synthetic":
        return None
    windows, mask = load_token_set(TOKENS).analysis_windows()
    return TokenText(windows[mask], np.argwhere(mask), windows, io.read_parquet(VOCABULARY))


def _held_out_tokens(params: Params, text: TokenText | None, n_tokens: int) -> np.ndarray:
    """Counted tokens held out from pairing: whole windows (or single synthetic tokens), seeded."""
    held = params.filters.held_out
    if not held.enabled:
        return np.zeros(n_tokens, dtype=bool)
    groups = text.positions[:, 0] if text is not None else np.arange(n_tokens)
    return held_out_groups(groups, held.fraction, params.seed)


def _run_pairing(params: Params, codes_a: sp.csr_matrix, codes_b: sp.csr_matrix) -> Pairing:
    settings = params.pairing
    if settings.method == "sparse":
        return pair_sparse(codes_a, codes_b, chunk_size=settings.chunk_size, prefix=settings.prefix)
    device = resolve_device(settings.device)
    return pair_dense(codes_a, codes_b, chunk_size=settings.chunk_size, token_chunk=settings.token_chunk, device=device)


def _filter_settings(params: Params, text: TokenText | None, codes_a, codes_b) -> FilterSettings:
    settings = params.filters
    tokens = None
    if settings.non_concept.enabled and text is not None:
        nc = settings.non_concept
        excluded = token_classes(text.vocabulary)[nc.token_classes].any(axis=1).to_numpy()
        tokens = tuple(feature_tokens(codes, text.token_ids, excluded, nc.top_k, nc.max_share) for codes in (codes_a, codes_b))
    elif settings.non_concept.enabled:
        log.info("non-concept filter skipped: %s tokens have no text", params.experiment)
    held_min = settings.held_out.min_correlation if settings.held_out.enabled else None
    return FilterSettings(settings.min_correlation, tokens, settings.non_concept.min_overlap, held_min)


def _hub_records(params: Params, pairs: pd.DataFrame, codes_a: sp.csr_matrix, text: TokenText | None) -> list[dict]:
    """The most-mapped A features with their top-activating contexts (none for synthetic tokens)."""
    settings = params.hubs
    table = hubs(pairs, settings.count)
    top_rows = top_activations(codes_a[:, table["a_feature"].to_numpy()], settings.contexts)
    records = []
    for row, hub in zip(top_rows, table.itertuples()):
        record = {"a_feature": int(hub.a_feature), "multiplicity": int(hub.multiplicity), "mean_r": float(hub.mean_r)}
        if text is not None:
            record["contexts"] = [
                context_text(text.windows, text.positions, token, text.vocabulary, settings.context_tokens) for token in row if token >= 0
            ]
        records.append(record)
    return records


def pair(params: Params) -> None:
    """Max-correlation pairing of every layer pair, then its filters, 1-1 rules and hubs."""
    text = _token_text(params)
    summary, hub_tables = {}, {}
    for layer_a, layer_b in params.layer_pairs():
        cache_a, cache_b = _load_pair_caches(params, layer_a, layer_b)
        key = layer_pair_key(layer_a, layer_b)
        held = _held_out_tokens(params, text, cache_a.codes.shape[0])
        codes_a, codes_b = cache_a.codes[~held], cache_b.codes[~held]
        log.info("pairing layer pair A L%d - B L%d on %d tokens (%s)", layer_a, layer_b, codes_a.shape[0], params.pairing.method)
        result = _run_pairing(params, codes_a, codes_b)
        settings = _filter_settings(params, text, codes_a, codes_b)

        pairs = result.pairs
        candidates = candidate_edges(result)
        if settings.held_out_min_correlation is not None:
            held_a, held_b = cache_a.codes[held], cache_b.codes[held]
            pairs["r_held_out"] = edge_correlations(held_a, held_b, pairs["a_partner"].to_numpy(), pairs["b_feature"].to_numpy())
            candidates["r_held_out"] = edge_correlations(held_a, held_b, candidates["a"].to_numpy(), candidates["b"].to_numpy())
        flags = filter_flags(pairs.rename(columns={"a_partner": "a", "b_feature": "b"}), settings)
        pairs = pd.concat([pairs, flags], axis=1)
        candidates["kept"] = filter_flags(candidates, settings)["kept"]
        filters = removal_report(flags, settings)
        log.info("filters on L%d-L%d: %s", layer_a, layer_b, {name: filters[name]["removed"] for name in FILTERS})

        io.write_parquet(PAIR / f"pairs_{key}.parquet", pairs)
        io.write_parquet(PAIR / f"reverse_{key}.parquet", result.reverse)
        io.write_parquet(PAIR / f"candidates_{key}.parquet", candidates)
        kept = pairs[pairs["kept"]]
        live_a, live_b = len(result.reverse), len(pairs)
        rules = {}
        for rule in ONE_TO_ONE_RULES:
            subset = one_to_one(kept, rule, candidates[candidates["kept"]])
            rules[rule] = {"n": len(subset.pairs)} | collapse_stats(subset.pairs, live_a, live_b)
        summary[key] = {
            "layer_a": layer_a,
            "layer_b": layer_b,
            "n_tokens": int(cache_a.codes.shape[0]),
            "n_tokens_pairing": int(codes_a.shape[0]),
            "n_features_a": result.n_features_a,
            "n_features_b": result.n_features_b,
            "dead_a": result.dead_a,
            "dead_b": result.dead_b,
            "live_a": live_a,
            "live_b": live_b,
            "distinct_partners": int(pairs["a_partner"].nunique()),
            "unique_partner_share": float((pairs["multiplicity"] == 1).mean()),
            "mutual_share": float(pairs["mutual"].mean()),
            "max_multiplicity": int(pairs["multiplicity"].max()),
            "filters": filters,
            "one_to_one": rules,
            "collapse_all_kept": collapse_stats(kept, live_a, live_b),
        }
        hub_tables[key] = _hub_records(params, pairs, codes_a, text)
    io.write_json(PAIR / "summary.json", summary)
    io.write_json(PAIR / "hubs.json", hub_tables)


# --- scoring subsets ------------------------------------------------------------------------


def _score_subsets(params: Params, subset_builder) -> tuple[list[dict], list[pd.DataFrame]]:
    """Score every subset of the filtered pairs of every layer pair; return result records and null-score frames."""
    records, nulls = [], []
    summary = io.read_json(PAIR / "summary.json")
    n = params.nulls
    settings = NullSettings(n.permutations, n.size_matched_draws, n.ci_draws, n.ci_fraction, n.ci_level, resolve_device(n.device))
    for layer_a, layer_b in params.layer_pairs():
        cache_a, cache_b = _load_pair_caches(params, layer_a, layer_b)
        key = layer_pair_key(layer_a, layer_b)
        pairs = io.read_parquet(PAIR / f"pairs_{key}.parquet")
        candidates = io.read_parquet(PAIR / f"candidates_{key}.parquet")
        kept = pairs[pairs["kept"]]
        labels = _planted_feature_labels(params, cache_a, cache_b) if params.experiment == "synthetic" else None
        reverse = io.read_parquet(PAIR / f"reverse_{key}.parquet")
        pool_a, pool_b = cache_a.W_dec[reverse["a_feature"].to_numpy()], cache_b.W_dec[pairs["b_feature"].to_numpy()]
        for index, subset in enumerate(subset_builder(kept, candidates[candidates["kept"]])):
            partners = subset.pairs["a_partner"].to_numpy()
            X, Y = cache_a.W_dec[partners], cache_b.W_dec[subset.pairs["b_feature"].to_numpy()]
            log.info("scoring %s, layer pair L%d-L%d: %d pairs", subset.name, layer_a, layer_b, len(X))
            seed = [params.nulls.seed, layer_a, layer_b, index]
            scores = compare(X, Y, partners, pool_a, pool_b, params.similarity.svcca_variance, settings, seed)
            null_scores = scores.pop("null_scores", None)
            record = {
                "layer_a": layer_a,
                "layer_b": layer_b,
                "subset": subset.name,
                "label": subset.label,
                "kind": subset.kind,
                "pairs_before_filter": len(pairs),
                "removed_by_filters": len(pairs) - len(kept),
                "distinct_a": int(subset.pairs["a_partner"].nunique()),
                "collapse": collapse_stats(subset.pairs, summary[key]["live_a"], summary[key]["live_b"]),
            } | scores
            if labels is not None:
                label_a = labels[0][subset.pairs["a_partner"].to_numpy()]
                label_b = labels[1][subset.pairs["b_feature"].to_numpy()]
                record["planted"] = planted_recovery(label_a, label_b, params.synthetic.n_shared)
            records.append(record)
            for null, by_metric in (null_scores or {}).items():
                nulls.append(pd.DataFrame({"layer_a": layer_a, "layer_b": layer_b, "subset": subset.name, "null": null} | by_metric))
    add_q_values(records)
    return records, nulls


def _planted_feature_labels(params: Params, cache_a: ActivationCache, cache_b: ActivationCache) -> tuple[np.ndarray, np.ndarray]:
    """The planted world feature each SAE feature of A and of B recovers (-1: none)."""
    name_a, name_b = params.model_names()
    return planted_labels(cache_a.W_dec, _load_planted_model(name_a)), planted_labels(cache_b.W_dec, _load_planted_model(name_b))


def _write_scored(directory: Path, records: list[dict], nulls: list[pd.DataFrame]) -> None:
    io.write_json(directory / "results.json", records)
    empty = pd.DataFrame({"layer_a": [], "layer_b": [], "subset": [], "null": []} | {metric: [] for metric in METRICS})
    io.write_parquet(directory / "null_scores.parquet", pd.concat(nulls, ignore_index=True) if nulls else empty)


def main_one_to_one(params: Params) -> None:
    """Main body: the 1-1 pairs (rule `subsets.one_to_one`) of every layer pair, with row-shuffle nulls."""
    records, nulls = _score_subsets(params, lambda kept, candidates: [one_to_one(kept, params.subsets.one_to_one, candidates)])
    _write_scored(MAIN, records, nulls)
    io.write_json(MAIN / "metrics.json", report.headline_metrics(records))


def appendix_buckets(params: Params) -> None:
    """Appendix: cumulative and range multiplicity buckets of every layer pair."""

    def buckets(kept: pd.DataFrame, _candidates: pd.DataFrame):
        return cumulative_buckets(kept, params.subsets.cumulative) + range_buckets(kept, params.subsets.ranges)

    records, nulls = _score_subsets(params, buckets)
    _write_scored(APPENDIX, records, nulls)


# --- rendering ------------------------------------------------------------------------------


def render(params: Params) -> None:
    """Tables, number macros and figures for the manuscript, from the results files."""
    main_records = io.read_json(MAIN / "results.json")
    bucket_records = io.read_json(APPENDIX / "results.json")
    pair_summary = io.read_json(PAIR / "summary.json")
    quality = io.read_json(EXTRACT_METRICS)
    lm_metrics = io.read_json(LM_METRICS)
    io.write_text(GENERATED / "main" / "one_to_one.tex", report.one_to_one_table(main_records))
    io.write_text(GENERATED / "appendix" / "buckets.tex", report.bucket_table(bucket_records))
    io.write_text(GENERATED / "appendix" / "filters.tex", report.filter_table(pair_summary))
    io.write_text(GENERATED / "appendix" / "metrics.tex", report.metric_table(main_records))
    io.write_text(GENERATED / "appendix" / "hubs.tex", report.hub_table(io.read_json(PAIR / "hubs.json"), HUBS_PER_LAYER_PAIR))
    io.write_text(GENERATED / "numbers.tex", report.numbers_tex(params, main_records, bucket_records, pair_summary, quality, lm_metrics))
    null_scores = io.read_parquet(MAIN / "null_scores.parquet")
    figures.one_to_one_nulls(main_records, null_scores, FIGURES / "one_to_one_nulls.pdf")
    pairs = {key: io.read_parquet(PAIR / f"pairs_{key}.parquet") for key in pair_summary}
    figures.multiplicity(pairs, FIGURES / "multiplicity.pdf")


def paper(params: Params) -> None:
    """Build paper/main.pdf with latexmk (aux files in build/, outside every dependency)."""
    if shutil.which("latexmk") is None:
        raise RuntimeError("latexmk not found: run `make setup` (installs latexmk and TeX Live from Debian)")
    env = os.environ | {"SOURCE_DATE_EPOCH": "1700000000", "FORCE_SOURCE_DATE": "1"}
    build = LATEX_BUILD.resolve()
    command = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", f"-outdir={build}", PAPER_SOURCE.name]
    completed = subprocess.run(command, cwd=PAPER_SOURCE.parent, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        log.error("%s", completed.stdout[-4000:])
        raise RuntimeError(f"latexmk failed on {PAPER_SOURCE}; see {build / 'main.log'}")
    with io.atomic_path(PAPER_PDF) as tmp:
        shutil.copyfile(build / "main.pdf", tmp)
    log.info("wrote %s", PAPER_PDF)
