"""Where every stage instance writes: one directory per token set, source and comparison.

    data/tokens/<token set>/           tokens: the token set and its hash
    data/<source>/model/               model: the model (weights, planted dictionary, or hub name)
    data/<source>/saes/                saes: one SAE per layer
    data/<source>/activations/         extract: one activation cache per layer
    data/<source>/extract_scratch/     extract: checkpoints of an interrupted run
    results/<source>/                  model.json (language-model loss), quality.json (SAE quality)
    results/<comparison>/pair/         pairing, filters, 1-1 rules, hubs, the sources' setup
    results/<comparison>/main_one_to_one/, results/<comparison>/appendix_buckets/   scores
    paper/generated/, figures/         render: tables, number macros, figures

These paths are the ones dvc.yaml declares; a test checks that the two agree.
"""

from __future__ import annotations

from pathlib import Path

GENERATED = Path("paper/generated")
FIGURES = Path("figures")
PAPER_SOURCE = Path("paper/main.tex")
PAPER_PDF = Path("paper/main.pdf")
LATEX_BUILD = Path("build")


def tokens(token_set: str) -> Path:
    return Path("data/tokens") / token_set


def model(source: str) -> Path:
    return Path("data") / source / "model"


def saes(source: str) -> Path:
    return Path("data") / source / "saes"


def sae(source: str, layer: int) -> Path:
    return saes(source) / f"L{layer}"


def activations(source: str) -> Path:
    return Path("data") / source / "activations"


def activation_cache(source: str, layer: int) -> Path:
    return activations(source) / f"L{layer}.safetensors"


def extract_scratch(source: str) -> Path:
    return Path("data") / source / "extract_scratch"


def model_metrics(source: str) -> Path:
    return Path("results") / source / "model.json"


def quality_metrics(source: str) -> Path:
    return Path("results") / source / "quality.json"


def pair(comparison: str) -> Path:
    return Path("results") / comparison / "pair"


def scored(comparison: str, stage: str) -> Path:
    """Output directory of a scoring stage (`main_one_to_one` or `appendix_buckets`)."""
    return Path("results") / comparison / stage


def layer_pair_key(layer_a: int, layer_b: int) -> str:
    return f"L{layer_a}_L{layer_b}"
