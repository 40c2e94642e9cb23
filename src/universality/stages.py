"""The pipeline stages, one function each, as declared in dvc.yaml.

Each stage reads params.yaml and its inputs, and writes its outputs atomically under the
paths below. The computation lives in the other modules; these functions only wire it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from universality import io, report, figures
from universality.extract import encode, library_versions
from universality.nulls import compare
from universality.pairing import pair_features
from universality.params import Params
from universality.saes import load_sae, save_sae, train_planted_sae
from universality.store import ActivationCache, cache_path, load_cache, save_cache
from universality.subsets import correlation_filter, cumulative_buckets, one_to_one, range_buckets
from universality.synthetic import (
    PlantedModel,
    firing_probabilities,
    planted_labels,
    planted_models,
    planted_recovery,
    sample_latents,
)

log = logging.getLogger(__name__)

TOKENS = Path("data/tokens/tokens.safetensors")
MODELS = Path("data/models")
SAES = Path("data/saes")
EXTRACT = Path("data/extract")
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


def layer_pair_key(layer_a: int, layer_b: int) -> str:
    return f"L{layer_a}_L{layer_b}"


# --- tokens, models, SAEs -------------------------------------------------------------------


def tokens(params: Params) -> None:
    """The fixed token set; for `synthetic`, each token's latent world-feature activations."""
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


def _load_tokens(params: Params) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, str]:
    tensors = io.read_tensors(TOKENS)
    n_world = len(tensors["firing_probabilities"])
    latents = sp.csr_matrix(
        (tensors["latent_values"], tensors["latent_indices"], tensors["latent_indptr"]),
        shape=(len(tensors["mask"]), n_world),
    )
    token_hash = io.sha256_arrays(tensors["latent_indptr"], tensors["latent_indices"], tensors["latent_values"], tensors["mask"])
    return latents, tensors["firing_probabilities"], tensors["mask"].astype(bool), token_hash


def models(params: Params) -> None:
    """The two models; for `synthetic`, the planted feature dictionaries."""
    for name, model in planted_models(params).items():
        log.info("planted model %s: %d features in %d dimensions", name, *model.feature_vectors.shape)
        io.write_tensors(MODELS / f"{name}.safetensors", {"feature_vectors": model.feature_vectors, "world_ids": model.world_ids})


def _load_model(name: str) -> PlantedModel:
    tensors = io.read_tensors(MODELS / f"{name}.safetensors")
    return PlantedModel(feature_vectors=tensors["feature_vectors"], world_ids=tensors["world_ids"])


def saes(params: Params) -> None:
    """Train one SAE per model and layer with SAELens."""
    _, probabilities, _, _ = _load_tokens(params)
    for index, (name, spec) in enumerate(params.models().items()):
        for layer in params.layers(name):
            log.info("training SAE %s layer %d: d_in %d -> d_sae %d, k %d", name, layer, spec.d_model, spec.d_sae, spec.k)
            sae = train_planted_sae(
                _load_model(name), spec, params.synthetic, probabilities, params.synthetic.sae_training, params.seed + 100 + index
            )
            save_sae(sae, SAES / f"{name}_L{layer}")


# --- extraction and pairing -----------------------------------------------------------------


def extract(params: Params) -> None:
    """Sparse codes of every (model, layer) SAE over the token set, stored as CSR caches."""
    latents, _, mask, token_hash = _load_tokens(params)
    quality = {}
    for name in params.models():
        model = _load_model(name)
        activations = model.activations(latents[mask])
        for layer in params.layers(name):
            sae = load_sae(SAES / f"{name}_L{layer}")
            codes, metrics = encode(sae, activations, EXTRACT_BATCH, desc=f"extract {name} L{layer}")
            log.info("%s L%d: FVU %.4f, L0 %.2f, dead %.3f", name, layer, metrics["fvu"], metrics["l0"], metrics["dead_fraction"])
            meta = {
                "experiment": params.experiment,
                "model": name,
                "layer": layer,
                "hook_name": "planted_activations",
                "sae": f"{SAES}/{name}_L{layer}",
                "token_hash": token_hash,
                "n_tokens": int(codes.shape[0]),
                "d_sae": int(codes.shape[1]),
                "d_model": int(activations.shape[1]),
                "quality": metrics,
                "versions": library_versions(),
                "device": "cpu",
            }
            save_cache(cache_path(EXTRACT, name, layer), ActivationCache(codes=codes, W_dec=sae.W_dec.detach().numpy(), meta=meta))
            quality[f"{name}_L{layer}"] = metrics
    io.write_json(EXTRACT_METRICS, quality)


def _load_pair_caches(params: Params, layer_a: int, layer_b: int) -> tuple[ActivationCache, ActivationCache]:
    name_a, name_b = params.model_names()
    cache_a, cache_b = load_cache(cache_path(EXTRACT, name_a, layer_a)), load_cache(cache_path(EXTRACT, name_b, layer_b))
    if cache_a.token_hash != cache_b.token_hash:
        raise ValueError(
            f"activation caches {name_a} L{layer_a} and {name_b} L{layer_b} come from different token sets "
            f"({cache_a.token_hash[:12]} vs {cache_b.token_hash[:12]}): rebuild them with `dvc repro extract`"
        )
    return cache_a, cache_b


def pair(params: Params) -> None:
    """Max-correlation pairing for every layer pair."""
    summary = {}
    for layer_a, layer_b in params.layer_pairs():
        cache_a, cache_b = _load_pair_caches(params, layer_a, layer_b)
        log.info("pairing layer pair A L%d - B L%d", layer_a, layer_b)
        result = pair_features(cache_a.codes, cache_b.codes, chunk_size=params.pairing.chunk_size)
        key = layer_pair_key(layer_a, layer_b)
        io.write_parquet(PAIR / f"pairs_{key}.parquet", result.pairs)
        io.write_parquet(PAIR / f"reverse_{key}.parquet", result.reverse)
        unique = result.pairs["multiplicity"] == 1
        summary[key] = {
            "layer_a": layer_a,
            "layer_b": layer_b,
            "n_tokens": int(cache_a.codes.shape[0]),
            "n_features_a": result.n_features_a,
            "n_features_b": result.n_features_b,
            "dead_a": result.dead_a,
            "dead_b": result.dead_b,
            "live_b": len(result.pairs),
            "distinct_partners": int(result.pairs["a_partner"].nunique()),
            "unique_partner_share": float(unique.mean()),
            "mutual_share": float(result.pairs["mutual"].mean()),
            "max_multiplicity": int(result.pairs["multiplicity"].max()),
        }
    io.write_json(PAIR / "summary.json", summary)


# --- scoring subsets ------------------------------------------------------------------------


def _score_subsets(params: Params, subset_builder) -> tuple[list[dict], list[pd.DataFrame]]:
    """Score every subset of every layer pair; return result records and null-score frames."""
    records, nulls = [], []
    for layer_a, layer_b in params.layer_pairs():
        cache_a, cache_b = _load_pair_caches(params, layer_a, layer_b)
        pairs = io.read_parquet(PAIR / f"pairs_{layer_pair_key(layer_a, layer_b)}.parquet")
        kept, removed = correlation_filter(pairs, params.subsets.min_correlation)
        labels = _planted_feature_labels(params, cache_a, cache_b) if params.experiment == "synthetic" else None
        for index, subset in enumerate(subset_builder(kept)):
            X = cache_a.W_dec[subset.pairs["a_partner"].to_numpy()]
            Y = cache_b.W_dec[subset.pairs["b_feature"].to_numpy()]
            log.info("scoring %s, layer pair L%d-L%d: %d pairs", subset.name, layer_a, layer_b, len(X))
            scores = compare(X, Y, params.similarity.svcca_variance, params.nulls.permutations, [params.nulls.seed, layer_a, layer_b, index])
            null_scores = scores.pop("null_scores", None)
            record = {
                "layer_a": layer_a,
                "layer_b": layer_b,
                "subset": subset.name,
                "label": subset.label,
                "kind": subset.kind,
                "pairs_before_filter": len(pairs),
                "removed_by_correlation_filter": removed,
                "distinct_a": int(subset.pairs["a_partner"].nunique()),
            } | scores
            if labels is not None:
                label_a = labels[0][subset.pairs["a_partner"].to_numpy()]
                label_b = labels[1][subset.pairs["b_feature"].to_numpy()]
                record["planted"] = planted_recovery(label_a, label_b, params.synthetic.n_shared)
            records.append(record)
            if null_scores is not None:
                nulls.append(pd.DataFrame({"layer_a": layer_a, "layer_b": layer_b, "subset": subset.name} | null_scores))
    return records, nulls


def _planted_feature_labels(params: Params, cache_a: ActivationCache, cache_b: ActivationCache) -> tuple[np.ndarray, np.ndarray]:
    """The planted world feature each SAE feature of A and of B recovers (-1: none)."""
    name_a, name_b = params.model_names()
    return planted_labels(cache_a.W_dec, _load_model(name_a)), planted_labels(cache_b.W_dec, _load_model(name_b))


def _write_scored(directory: Path, records: list[dict], nulls: list[pd.DataFrame]) -> None:
    io.write_json(directory / "results.json", records)
    empty = pd.DataFrame({"layer_a": [], "layer_b": [], "subset": [], "svcca": [], "rsa": []})
    io.write_parquet(directory / "null_scores.parquet", pd.concat(nulls, ignore_index=True) if nulls else empty)


def main_one_to_one(params: Params) -> None:
    """Main body: the 1-1 pairs of every layer pair, with row-shuffle nulls."""
    records, nulls = _score_subsets(params, lambda kept: [one_to_one(kept)])
    _write_scored(MAIN, records, nulls)
    io.write_json(MAIN / "metrics.json", report.headline_metrics(records))


def appendix_buckets(params: Params) -> None:
    """Appendix: cumulative and range multiplicity buckets of every layer pair."""

    def buckets(kept: pd.DataFrame):
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
    io.write_text(GENERATED / "main" / "one_to_one.tex", report.one_to_one_table(main_records))
    io.write_text(GENERATED / "appendix" / "buckets.tex", report.bucket_table(bucket_records))
    io.write_text(GENERATED / "numbers.tex", report.numbers_tex(params, main_records, bucket_records, pair_summary, quality))
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
