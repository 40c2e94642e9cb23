"""params.yaml: typed schema, validated on load.

Every knob of the pipeline lives in params.yaml. Loading checks it against the dataclasses
below and stops with a message naming the offending key, what was expected, and the
nearest valid name for a typo.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

EXPERIMENTS = ("toy", "synthetic", "pythia", "gemma")
HUB_EXPERIMENTS = ("pythia", "gemma")


class ParamsError(ValueError):
    """params.yaml does not match the schema; the message names the key and the fix."""


@dataclass(frozen=True)
class SyntheticModel:
    """One planted 'model': a feature dictionary in d_model dimensions and its SAE's shape."""

    d_model: int
    d_sae: int
    k: int


@dataclass(frozen=True)
class SAETraining:
    training_samples: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class Synthetic:
    """Planted ground truth: shared and private features, geometries related by a linear map.

    geometry_noise mixes B's shared feature directions between the linear image of A's
    (0.0) and fresh random directions (1.0: the geometries are unrelated).
    """

    n_tokens: int
    n_shared: int
    n_private: int
    firing_max_prob: float
    firing_min_prob: float
    firing_exponent: float
    magnitude_std: float
    geometry_noise: float
    models: dict[str, SyntheticModel]
    sae_training: SAETraining


@dataclass(frozen=True)
class Corpus:
    """The toy token source: WordNet glosses, a BPE tokenizer trained on them, fixed windows."""

    wordnet_dir: str
    vocab_size: int
    context_length: int
    analysis_windows: int


@dataclass(frozen=True)
class ToyModel:
    """A small TransformerLens transformer trained here; every layer carries an SAE."""

    n_layers: int
    d_model: int
    n_heads: int
    d_mlp: int
    seed: int


@dataclass(frozen=True)
class LMTraining:
    """TransformerLens training loop settings; `max_steps` caps each epoch (null: whole epoch)."""

    epochs: int
    max_steps: int | None
    batch_size: int
    lr: float
    warmup_steps: int
    weight_decay: float


@dataclass(frozen=True)
class ToySAE:
    d_sae: int
    k: int


@dataclass(frozen=True)
class LMSAETraining:
    """SAELens training-runner settings shared by every toy SAE."""

    training_tokens: int
    batch_size: int
    lr: float
    store_batch_windows: int
    buffer_batches: int


@dataclass(frozen=True)
class Toy:
    corpus: Corpus
    models: dict[str, ToyModel]
    lm_training: LMTraining
    saes: dict[str, ToySAE]
    sae_training: LMSAETraining


@dataclass(frozen=True)
class HubTokens:
    """The first `documents` documents of a Hugging Face dataset, one window each."""

    dataset: str
    split: str
    documents: int
    context_length: int


@dataclass(frozen=True)
class HubModel:
    """A pretrained model and its pretrained SAEs (`sae_id` may contain `{layer}`)."""

    model_name: str
    layers: list[int]
    sae_loader: Literal["saelens", "sparsify"]
    sae_release: str
    sae_id: str


@dataclass(frozen=True)
class Hub:
    tokens: HubTokens
    models: dict[str, HubModel]


@dataclass(frozen=True)
class Extract:
    """How activations are read: the hook, batch sizes, checkpoint size, hook check."""

    hook: str
    batch_windows: int
    chunk_windows: int
    hook_check_windows: int
    device: Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class Pairing:
    """Exact max-correlation pairing: `sparse` (co-activations, CPU) or `dense` (z-scored matmul)."""

    method: Literal["sparse", "dense"]
    chunk_size: int  # query features per sparse block, or B features per dense block
    prefix: int  # smallest-mean/sd keys each query is checked against for never co-firing partners
    token_chunk: int  # tokens per dense matmul chunk
    device: str  # dense method: auto (CUDA when present), cpu, cuda, cuda:N


@dataclass(frozen=True)
class NonConcept:
    """Drop pairs whose features fire mostly on excluded token classes, or whose top tokens do not overlap."""

    enabled: bool
    top_k: int
    token_classes: list[Literal["special", "whitespace", "punctuation", "digits"]]
    max_share: float
    min_overlap: int


@dataclass(frozen=True)
class HeldOut:
    """Re-estimate each matched r on held-out windows that the pairing does not see."""

    enabled: bool
    fraction: float
    min_correlation: float


@dataclass(frozen=True)
class Filters:
    min_correlation: float | None  # keep pairs with r > this (null: no threshold)
    non_concept: NonConcept
    held_out: HeldOut


@dataclass(frozen=True)
class Subsets:
    """Which pairs are compared: the main body's 1-1 rule and the multiplicity buckets."""

    one_to_one: Literal["unique_partner", "mutual_nn", "assignment", "paper_first_occurrence"]
    cumulative: list[int]
    ranges: list[tuple[int, int | None]]


@dataclass(frozen=True)
class Hubs:
    count: int  # most-mapped A features listed per layer pair
    contexts: int  # top-activating contexts shown per hub
    context_tokens: int  # tokens of context before the activating token


@dataclass(frozen=True)
class Similarity:
    svcca_variance: float


@dataclass(frozen=True)
class Nulls:
    """Permutation nulls (row shuffle, group), size-matched random subsets, subsampling intervals."""

    permutations: int
    size_matched_draws: int
    ci_draws: int
    ci_fraction: float  # share of groups (A partners) in each subsample
    ci_level: float
    seed: int
    device: str  # auto (CUDA when present), cpu, cuda


@dataclass(frozen=True)
class Params:
    experiment: Literal["toy", "synthetic", "pythia", "gemma"]
    seed: int
    toy: Toy
    synthetic: Synthetic
    pythia: Hub
    gemma: Hub
    extract: Extract
    pairing: Pairing
    filters: Filters
    subsets: Subsets
    hubs: Hubs
    similarity: Similarity
    nulls: Nulls

    def models(self) -> dict[str, Any]:
        """The two models of the chosen experiment, keyed by name (first is A, second B)."""
        return getattr(self, self.experiment).models

    def layers(self, model: str) -> list[int]:
        """Residual-stream layers that carry an SAE for `model`."""
        spec = self.models().get(model)
        if spec is None:
            raise ParamsError(f"unknown model {model!r}; params.yaml {self.experiment}.models defines {sorted(self.models())}")
        if isinstance(spec, ToyModel):
            return list(range(spec.n_layers))
        if isinstance(spec, HubModel):
            return list(spec.layers)
        return [0]

    def model_names(self) -> tuple[str, str]:
        a, b = list(self.models())
        return a, b

    def layer_pairs(self) -> list[tuple[int, int]]:
        a, b = self.model_names()
        return [(la, lb) for la in self.layers(a) for lb in self.layers(b)]

    def hook_name(self, layer: int) -> str:
        return self.extract.hook.format(layer=layer)


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            raise ParamsError(f"params.yaml: {key} = {value!r} is not allowed; expected {_describe(tp)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"params.yaml: {key} must be a list, got {type(value).__name__} {value!r}")
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list) or len(value) != len(args):
            raise ParamsError(f"params.yaml: {key} must be a list of {len(args)} items, got {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict) or not value:
            raise ParamsError(f"params.yaml: {key} must be a non-empty mapping, got {value!r}")
        return {str(k): _convert(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ParamsError(
            f"params.yaml: {key} must be {tp.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "the top level"
    if not isinstance(data, dict):
        raise ParamsError(f"params.yaml: {where} must be {_describe(cls)}, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            full = f"{prefix}.{key}" if prefix else str(key)
            raise ParamsError(f"params.yaml: unknown key {full!r}{hint} Allowed keys here: {', '.join(names)}")
    missing = [n for n in names if n not in data]
    if missing:
        full = ", ".join(f"{prefix}.{n}" if prefix else n for n in missing)
        raise ParamsError(f"params.yaml: missing key(s) {full}")
    return cls(**{n: _convert(data[n], hints[n], f"{prefix}.{n}" if prefix else n) for n in names})


def _check_values(params: Params) -> None:
    syn = params.synthetic
    for section in ("toy", "synthetic", "pythia", "gemma"):
        models = getattr(params, section).models
        if len(models) != 2:
            raise ParamsError(f"params.yaml: {section}.models must name exactly two models (A, B), got {sorted(models)}")
    if not 0.0 <= syn.geometry_noise <= 1.0:
        raise ParamsError(f"params.yaml: synthetic.geometry_noise must lie in [0, 1], got {syn.geometry_noise}")
    if not 0.0 < syn.firing_min_prob < syn.firing_max_prob <= 1.0:
        raise ParamsError("params.yaml: need 0 < synthetic.firing_min_prob < synthetic.firing_max_prob <= 1")
    for name, model in syn.models.items():
        if not 0 < model.k <= model.d_sae:
            raise ParamsError(f"params.yaml: synthetic.models.{name}.k must be in 1..d_sae ({model.d_sae})")
    toy = params.toy
    if sorted(toy.saes) != sorted(toy.models):
        raise ParamsError(f"params.yaml: toy.saes must have one entry per model in toy.models ({sorted(toy.models)}), got {sorted(toy.saes)}")
    for name, model in toy.models.items():
        if model.d_model % model.n_heads:
            raise ParamsError(f"params.yaml: toy.models.{name}.d_model ({model.d_model}) must be a multiple of n_heads ({model.n_heads})")
        if not 0 < toy.saes[name].k <= toy.saes[name].d_sae:
            raise ParamsError(f"params.yaml: toy.saes.{name}.k must be in 1..d_sae ({toy.saes[name].d_sae})")
    if toy.corpus.context_length < 2:
        raise ParamsError("params.yaml: toy.corpus.context_length must be at least 2 (BOS and one token)")
    if "{layer}" not in params.extract.hook:
        raise ParamsError(f"params.yaml: extract.hook must contain '{{layer}}', got {params.extract.hook!r}")
    if not 0.0 < params.similarity.svcca_variance <= 1.0:
        raise ParamsError("params.yaml: similarity.svcca_variance must lie in (0, 1]")
    for name in ("permutations", "size_matched_draws", "ci_draws"):
        if getattr(params.nulls, name) < 1:
            raise ParamsError(f"params.yaml: nulls.{name} must be at least 1")
    if not 0.0 < params.nulls.ci_fraction < 1.0 or not 0.0 < params.nulls.ci_level < 1.0:
        raise ParamsError("params.yaml: nulls.ci_fraction and nulls.ci_level must lie in (0, 1)")
    if params.pairing.chunk_size < 1 or params.pairing.prefix < 1 or params.pairing.token_chunk < 1:
        raise ParamsError("params.yaml: pairing.chunk_size, pairing.prefix and pairing.token_chunk must be at least 1")
    if not 0.0 < params.filters.held_out.fraction < 1.0:
        raise ParamsError(f"params.yaml: filters.held_out.fraction must lie in (0, 1), got {params.filters.held_out.fraction}")
    if not 0.0 < params.filters.non_concept.max_share <= 1.0:
        raise ParamsError(f"params.yaml: filters.non_concept.max_share must lie in (0, 1], got {params.filters.non_concept.max_share}")
    for i, (lo, hi) in enumerate(params.subsets.ranges):
        if lo < 1 or (hi is not None and hi < lo):
            raise ParamsError(f"params.yaml: subsets.ranges[{i}] = [{lo}, {hi}] is not a range 1 <= lo <= hi")


def parse_params(data: Any) -> Params:
    """Validate a params mapping (as read from YAML) and return typed Params."""
    if isinstance(data, dict) and "experiment" in data and data["experiment"] not in EXPERIMENTS:
        raise ParamsError(
            f"params.yaml: experiment = {data['experiment']!r} is unknown; allowed: {', '.join(EXPERIMENTS)}"
        )
    params = _build(Params, data, "")
    _check_values(params)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run from the repository root, where params.yaml lives")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from err
    return parse_params(data)
