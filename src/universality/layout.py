"""Where every stage instance writes: one directory per token set, model, source and comparison.

    data/tokens/<token set>/           tokens: the token set and its hash
    data/models/<model>/               model: the model (weights, planted dictionary, or hub name), its metrics
    data/<source>/saes/                saes: one SAE per layer
    data/<source>/activations/         extract: one activation cache per layer, the SAEs' quality
    data/<source>/extract_scratch/     extract: checkpoints of an interrupted run
    results/<comparison>/pair/         pairing, filters, 1-1 rules, hubs, the sources' setup
    results/<comparison>/main_one_to_one/, results/<comparison>/appendix_buckets/   scores
    results/<comparison>/collapse/     collapse: why scores rise as pairs become one-to-one
    results/<comparison>/sensitivity/  sensitivity: the 1-1 scores under every choice of the pairing
    results/<comparison>/subspaces/    subspaces: token-identity control, semantic-category grid
    results/calibration/               calibration: skyline, floor, seeds, shuffled windows
    paper/generated/                   render: tables, number macros, figures
    results/manifest/<stage>/<name>.json   every stage with cached outputs: each file's sha256 and
                                       size, and the environment that wrote them

Each folder above but the scratch is one stage instance's *output set*: written whole, with a
`provenance.json` (`artifacts.provenance`). Beside the sets, copies of their headline numbers for
`dvc metrics show`: results/models/<model>.json (a model's loss), results/<source>/quality.json,
results/<comparison>/<stage>_metrics.json and results/calibration_metrics.json; no stage reads
them but render, which reads the models' losses.

These paths are the ones dvc.yaml declares; a test checks that the two agree.
"""

from __future__ import annotations

import re
from pathlib import Path

GENERATED = Path("paper/generated")
FIGURES = GENERATED / "figures"
METRICS_FILE = "metrics.json"  # a model's metrics, in its output set
QUALITY_FILE = "quality.json"  # the SAEs' quality, in the activations' output set
DVC_FILE = Path("dvc.yaml")
PAPER_SOURCE = Path("paper/main.tex")
PAPER_PDF = Path("paper/main.pdf")
LATEX_BUILD = Path("build")
MODELS_DIRECTORY = "models"
CALIBRATION_DIRECTORY = "calibration"
MANIFEST_DIRECTORY = "manifest"
RESERVED_RESULTS = (
    MODELS_DIRECTORY,
    CALIBRATION_DIRECTORY,
    MANIFEST_DIRECTORY,
)  # results/ folders that are not a source's or a comparison's
COMPARISON_STAGES = ("pair", "main_one_to_one", "appendix_buckets", "collapse", "sensitivity", "subspaces")


def tokens(token_set: str) -> Path:
    return Path("data/tokens") / token_set


def model(name: str) -> Path:
    """The directory of model `name` (an entry of params.yaml's `models`)."""
    return Path("data") / MODELS_DIRECTORY / name


def saes(source: str) -> Path:
    return Path("data") / source / "saes"


def sae_folder(layer: int) -> str:
    return f"L{layer}"


def sae(source: str, layer: int) -> Path:
    return saes(source) / sae_folder(layer)


def activations(source: str) -> Path:
    return Path("data") / source / "activations"


def cache_file(layer: int) -> str:
    return f"L{layer}.safetensors"


def activation_cache(source: str, layer: int) -> Path:
    return activations(source) / cache_file(layer)


def extract_scratch(source: str) -> Path:
    return Path("data") / source / "extract_scratch"


def model_metrics(name: str) -> Path:
    return Path("results") / MODELS_DIRECTORY / f"{name}.json"


def quality_metrics(source: str) -> Path:
    return Path("results") / source / "quality.json"


def pair(comparison: str) -> Path:
    return Path("results") / comparison / "pair"


def stage_metrics(comparison: str, stage: str) -> Path:
    """A comparison stage's headline numbers, for `dvc metrics show` (e.g. pair: 1-1 size, largest multiplicity, dead shares)."""
    return Path("results") / comparison / f"{stage}_metrics.json"


def headline(comparison: str) -> Path:
    """A quoted comparison's headline (layer pairs, median 1-1 size and scores), for `dvc metrics show`; render writes it."""
    return Path("results") / comparison / "headline.json"


def calibration_metrics() -> Path:
    return Path("results") / f"{CALIBRATION_DIRECTORY}_metrics.json"


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


NAME = r"(?P<name>[^/]+)"
PRODUCERS = [  # (path pattern, the stage instance that writes it); the first match wins
    (rf"data/tokens/{NAME}", "tokens@{name}"),
    (rf"data/{MODELS_DIRECTORY}/{NAME}", "model@{name}"),
    (rf"results/{MODELS_DIRECTORY}/{NAME}\.json", "model@{name}"),
    (rf"data/{NAME}/saes", "saes@{name}"),
    (rf"data/{NAME}/(activations|extract_scratch)", "extract@{name}"),
    (rf"results/{NAME}/quality\.json", "extract@{name}"),
    (rf"results/{CALIBRATION_DIRECTORY}(_metrics\.json)?", "calibration"),
    (rf"results/{MANIFEST_DIRECTORY}/(?P<stage>[^/]+)/{NAME}\.json", "{stage}@{name}"),
    (rf"results/{MANIFEST_DIRECTORY}/(?P<stage>[^/]+)\.json", "{stage}"),
    (rf"results/{NAME}/(?P<stage>{'|'.join(COMPARISON_STAGES)})(_metrics\.json)?", "{stage}@{name}"),
    (rf"results/{NAME}/headline\.json", "render"),
    (re.escape(GENERATED.as_posix()), "render"),
    (re.escape(PAPER_PDF.as_posix()), "paper"),
]


def output_folder(stage: str, name: str | None) -> Path | None:
    """The folder stage instance `stage@name` writes whole (None: paper, which writes the PDF)."""
    folders = {"tokens": tokens, "model": model, "saes": saes, "extract": activations, "pair": pair,
               "collapse": collapse, "sensitivity": sensitivity, "subspaces": subspaces}  # fmt: skip
    if stage in folders:
        assert name is not None, f"stage {stage} writes one folder per name"
        return folders[stage](name)
    if stage in ("main_one_to_one", "appendix_buckets"):
        assert name is not None, f"stage {stage} writes one folder per comparison"
        return scored(name, stage)
    return {"calibration": calibration(), "render": GENERATED}.get(stage)


def cached_outputs(stage: str, name: str | None) -> list[Path]:
    """The outputs DVC caches (and pushes) for stage instance `stage@name`: its output set but render's (kept in git)."""
    folder = output_folder(stage, name)
    return [] if folder is None or stage == "render" else [folder]


def manifest_record(stage: str, name: str | None) -> Path:
    """Where stage instance `stage@name` records its cached outputs' hashes and its environment."""
    folder = Path("results") / MANIFEST_DIRECTORY
    return folder / f"{stage}.json" if name is None else folder / stage / f"{name}.json"


def stage_instance(stage: str, name: str | None) -> str:
    """DVC's name of a stage instance: `extract@toy_a`, or `calibration`."""
    return stage if name is None else f"{stage}@{name}"


def split_instance(instance: str) -> tuple[str, str | None]:
    """`extract@toy_a` -> ("extract", "toy_a"); `calibration` -> ("calibration", None)."""
    stage, _, name = instance.partition("@")
    return stage, name or None


def producing_stage(path: str | Path) -> str | None:
    """The stage instance that writes `path` (a file or folder of the layout above), if any."""
    text = Path(path).as_posix()
    for pattern, instance in PRODUCERS:
        match = re.match(pattern + "(/|$)", text)
        if match:
            return instance.format(**match.groupdict())
    return None


def relative(path: str | Path) -> Path:
    path = Path(path)
    return path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path


def missing_message(path: str | Path) -> str:
    """Why `path` is not there and the commands that bring it: `dvc pull` from the remote, or `dvc repro`."""
    path = relative(path)
    stage = producing_stage(path)
    if stage is None:
        return f"{path} does not exist: run `dvc repro` to build it"
    return (
        f"{path} does not exist: fetch it with `dvc pull {stage}` (the paper's cached artifacts, README: "
        f"Reproducing the paper) or build it with `dvc repro {stage}`"
    )
