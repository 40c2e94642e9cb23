"""Where every stage instance writes: one directory per token set, model, source and comparison.

    data/tokens/<token set>/           tokens: the token set and its hash
    data/models/<model>/               model: the model (weights, planted dictionary, or hub name)
    results/models/<model>.json        model: its language-model loss (empty for planted and hub models)
    data/<source>/saes/                saes: one SAE per layer
    data/<source>/activations/         extract: one activation cache per layer
    data/<source>/extract_scratch/     extract: checkpoints of an interrupted run
    results/<source>/quality.json      extract: the SAEs' quality
    results/<comparison>/pair/         pairing, filters, 1-1 rules, hubs, the sources' setup
    results/<comparison>/pair_metrics.json   pair: 1-1 size, largest multiplicity, dead shares per layer pair
    results/<comparison>/main_one_to_one/, results/<comparison>/appendix_buckets/   scores
    results/<comparison>/collapse/     collapse: why scores rise as pairs become one-to-one
    results/<comparison>/sensitivity/  sensitivity: the 1-1 scores under every choice of the pairing
    results/<comparison>/subspaces/    subspaces: token-identity control, semantic-category grid
    results/calibration/               calibration: skyline, floor, seeds, shuffled windows
    paper/generated/, figures/         render: tables, number macros, figures

These paths are the ones dvc.yaml declares; a test checks that the two agree.
"""

from __future__ import annotations

from pathlib import Path

GENERATED = Path("paper/generated")
FIGURES = Path("figures")
DVC_FILE = Path("dvc.yaml")
PAPER_SOURCE = Path("paper/main.tex")
PAPER_PDF = Path("paper/main.pdf")
LATEX_BUILD = Path("build")
MODELS_DIRECTORY = "models"
CALIBRATION_DIRECTORY = "calibration"
RESERVED_RESULTS = (MODELS_DIRECTORY, CALIBRATION_DIRECTORY)  # results/ folders that are not a source's or a comparison's


def tokens(token_set: str) -> Path:
    return Path("data/tokens") / token_set


def model(name: str) -> Path:
    """The directory of model `name` (an entry of params.yaml's `models`)."""
    return Path("data") / MODELS_DIRECTORY / name


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


def model_metrics(name: str) -> Path:
    return Path("results") / MODELS_DIRECTORY / f"{name}.json"


def quality_metrics(source: str) -> Path:
    return Path("results") / source / "quality.json"


def pair(comparison: str) -> Path:
    return Path("results") / comparison / "pair"


def pair_metrics(comparison: str) -> Path:
    """The pair stage's headline numbers, one record per layer pair (a DVC metrics file)."""
    return Path("results") / comparison / "pair_metrics.json"


def scored(comparison: str, stage: str) -> Path:
    """Output directory of a scoring stage (`main_one_to_one` or `appendix_buckets`)."""
    return Path("results") / comparison / stage


def collapse(comparison: str) -> Path:
    """The collapse stage's results: matched, deduplicated and stratified bucket scores, hub anatomy, verdicts."""
    return Path("results") / comparison / "collapse"


def sensitivity(comparison: str) -> Path:
    """The sensitivity stage's results: the 1-1 scores under every variant of the pairing."""
    return Path("results") / comparison / "sensitivity"


def subspaces(comparison: str) -> Path:
    """The subspaces stage's results: the token-identity control and the semantic-category grid."""
    return Path("results") / comparison / "subspaces"


def calibration() -> Path:
    """The calibration stage's results: skyline, floor, gap fractions, seed spread, shuffled windows."""
    return Path("results") / CALIBRATION_DIRECTORY


def layer_pair_key(layer_a: int, layer_b: int) -> str:
    return f"L{layer_a}_L{layer_b}"
