"""The typed schema of params.yaml: token sets, sources, comparisons and the analysis knobs.

A *token set* is the fixed set of tokens both models of a comparison read. A *source* is one
model and its SAEs (one per layer), built by the source kind named in `kind`: `trained`
(a small transformer trained here on a WordNet token set), `planted` (a planted feature
dictionary over a synthetic world) or `pretrained` (a hub model and its published SAEs). A
*comparison* pairs the SAE features of source A with those of source B over one token set.
Entries of a mapping whose values carry a `kind` are read as the dataclass of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- token sets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainedTokens:
    """WordNet glosses, a BPE tokenizer trained on them, fixed windows, held-out analysis windows."""

    kind: Literal["trained"]
    wordnet_dir: str
    vocab_size: int
    context_length: int
    analysis_windows: int
    seed: int


@dataclass(frozen=True)
class PlantedTokens:
    """A synthetic world: latent features firing on each token; shared and per-side private ones.

    `d_world` is the dimension of the space holding the shared features' directions; each
    planted source embeds them in its own d_model by a linear map.
    """

    kind: Literal["planted"]
    n_tokens: int
    n_shared: int
    n_private: int
    d_world: int
    firing_max_prob: float
    firing_min_prob: float
    firing_exponent: float
    magnitude_std: float
    seed: int


@dataclass(frozen=True)
class PretrainedTokens:
    """The first `documents` documents of a Hugging Face dataset, cut by a hub model's tokenizer."""

    kind: Literal["pretrained"]
    dataset: str
    split: str
    documents: int
    context_length: int
    tokenizer: str


TokenSetSpec = TrainedTokens | PlantedTokens | PretrainedTokens

# --- sources --------------------------------------------------------------------------------


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
class TrainedModel:
    """A small TransformerLens transformer trained here; every layer carries an SAE."""

    n_layers: int
    d_model: int
    n_heads: int
    d_mlp: int
    seed: int
    training: LMTraining


@dataclass(frozen=True)
class LMSAETraining:
    """SAELens language-model training-runner settings."""

    training_tokens: int
    batch_size: int
    lr: float
    store_batch_windows: int
    buffer_batches: int


@dataclass(frozen=True)
class TrainedSAE:
    """A TopK SAE per layer; layer L is trained with seed `seed + L`."""

    d_sae: int
    k: int
    seed: int
    training: LMSAETraining


@dataclass(frozen=True)
class TrainedSource:
    kind: Literal["trained"]
    tokens: str
    model: TrainedModel
    sae: TrainedSAE

    def layers(self) -> list[int]:
        return list(range(self.model.n_layers))


@dataclass(frozen=True)
class PlantedModel:
    """A planted dictionary on one side of the world (its private features are that side's).

    geometry_noise mixes the shared features' directions between a linear image of the
    world's (0.0) and fresh random directions (1.0: unrelated to any other source).
    """

    side: Literal["a", "b"]
    d_model: int
    geometry_noise: float
    seed: int


@dataclass(frozen=True)
class PlantedSAETraining:
    training_samples: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class PlantedSAE:
    d_sae: int
    k: int
    seed: int
    training: PlantedSAETraining


@dataclass(frozen=True)
class PlantedSource:
    kind: Literal["planted"]
    tokens: str
    model: PlantedModel
    sae: PlantedSAE

    def layers(self) -> list[int]:
        return [0]


@dataclass(frozen=True)
class PretrainedModel:
    model_name: str
    layers: list[int]


@dataclass(frozen=True)
class PretrainedSAE:
    """Published SAEs: a SAELens release or a sparsify repository; `sae_id` may contain `{layer}`."""

    loader: Literal["saelens", "sparsify"]
    release: str
    sae_id: str


@dataclass(frozen=True)
class PretrainedSource:
    kind: Literal["pretrained"]
    tokens: str
    model: PretrainedModel
    sae: PretrainedSAE

    def layers(self) -> list[int]:
        return list(self.model.layers)


SourceSpec = TrainedSource | PlantedSource | PretrainedSource


@dataclass(frozen=True)
class Comparison:
    """SAE features of source `a` paired with those of source `b` over token set `tokens`."""

    a: str
    b: str
    tokens: str


@dataclass(frozen=True)
class Paper:
    """The comparisons the manuscript quotes: the main one and the planted validation pair."""

    main: str
    planted_related: str
    planted_unrelated: str


# --- analysis -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extract:
    """How activations are read: the hook, batch sizes, checkpoint size, hook check."""

    hook: str
    batch_windows: int
    chunk_windows: int
    hook_check_windows: int
    hook_check_max_fvu: float  # the hook check stops when an SAE's FVU on its configured hook exceeds this
    device: Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class PairingSettings:
    """Exact max-correlation pairing: `sparse` (co-activations, CPU) or `dense` (z-scored matmul)."""

    method: Literal["sparse", "dense"]
    chunk_size: int  # query features per sparse block, or B features per dense block
    prefix: int  # smallest-mean/sd keys each query is checked against for never co-firing partners
    min_support: int  # activating tokens a feature needs to be paired
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
    seed: int


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
    precision: Literal["float64", "float32"]  # of the cross products, Gram matrices and their eigenvalues
    rsa_paper_max_n: int  # the paper's Spearman RSA (exact ranks of n(n-1)/2 similarities) up to this many pairs


@dataclass(frozen=True)
class Params:
    token_sets: dict[str, TokenSetSpec]
    sources: dict[str, SourceSpec]
    comparisons: dict[str, Comparison]
    paper: Paper
    extract: Extract
    pairing: PairingSettings
    filters: Filters
    subsets: Subsets
    hubs: Hubs
    similarity: Similarity
    nulls: Nulls

    def hook_name(self, layer: int) -> str:
        return self.extract.hook.format(layer=layer)

    def layer_pairs(self, comparison: str) -> list[tuple[int, int]]:
        """Every (layer of A, layer of B) of a comparison: the grid its stages score."""
        spec = self.comparisons[comparison]
        return [(la, lb) for la in self.sources[spec.a].layers() for lb in self.sources[spec.b].layers()]
