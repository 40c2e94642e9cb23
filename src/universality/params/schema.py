"""The typed schema of params.yaml: token sets, models, sources, comparisons and the analysis knobs.

A *token set* is the fixed set of tokens both models of a comparison read. A *model* is built
by the kind named in `kind` over one token set: `trained` (a small transformer trained here on
a WordNet token set, or left at its seeded random initialisation), `planted` (a planted
feature dictionary over a synthetic world) or `pretrained` (a hub model). A *source* is one
model with an SAE per layer; several sources may share a model (the skyline: the same model
with SAEs of another seed). A *comparison* pairs the SAE features of source A with those of
source B over one token set. Entries of a mapping whose values carry a `kind` are read as the
dataclass of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal


@dataclass(frozen=True)
class Range:
    """The values a number of params.yaml may take; a bound of None is no bound, `open_*` excludes it."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def contains(self, value: float) -> bool:
        """Whether `value` lies in the range (NaN never does)."""
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return value == value and above and below

    def describe(self, key: str) -> str:
        """The range as an inequality on `key`, e.g. `0 < nulls.ci_level < 1`."""
        low = "" if self.low is None else f"{self.low:g} {'<' if self.open_low else '<='} "
        high = "" if self.high is None else f" {'<' if self.open_high else '<='} {self.high:g}"
        return f"{low}{key}{high}"


# The numbers of params.yaml by what they count or measure; the loader refuses a value outside its range.
Count = Annotated[int, Range(1)]  # sizes, counts, steps: at least one
NonNegative = Annotated[int, Range(0)]
Seed = Annotated[int, Range(0)]  # numpy and torch take non-negative seeds
Positive = Annotated[float, Range(0, open_low=True)]  # learning rates, factors
NonNegativeFloat = Annotated[float, Range(0)]
Share = Annotated[float, Range(0, 1, open_low=True)]  # (0, 1]
OpenShare = Annotated[float, Range(0, 1, open_low=True, open_high=True)]  # (0, 1): levels, held-out fractions
UnitInterval = Annotated[float, Range(0, 1)]
Correlation = Annotated[float, Range(-1, 1)]
Threshold = Annotated[float, Range(-1, 1, open_high=True)]  # keep r > threshold: 1 or more would keep nothing
ContextLength = Annotated[int, Range(2)]  # BOS and at least one token
MinPairs = Annotated[int, Range(4)]  # the fewest pairs a score is computed on
VocabSize = Annotated[int, Range(258)]  # a byte-level BPE holds the 256 bytes and <bos>, <pad> before any merge

# --- token sets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainedTokens:
    """WordNet glosses, a BPE tokenizer trained on them, fixed windows, held-out analysis windows."""

    kind: Literal["trained"]
    wordnet_dir: str
    vocab_size: VocabSize
    context_length: ContextLength
    analysis_windows: Count
    seed: Seed


@dataclass(frozen=True)
class PlantedTokens:
    """A synthetic world: latent features firing on each token; shared and per-side private ones.

    `d_world` is the dimension of the space holding the shared features' directions; each
    planted source embeds them in its own d_model by a linear map.
    """

    kind: Literal["planted"]
    n_tokens: Count
    n_shared: Count
    n_private: NonNegative
    d_world: Count
    firing_max_prob: Share
    firing_min_prob: Share
    firing_exponent: NonNegativeFloat
    magnitude_std: NonNegativeFloat
    seed: Seed


@dataclass(frozen=True)
class PretrainedTokens:
    """The first `documents` documents of a Hugging Face dataset, cut by a hub model's tokenizer.

    The next `training_documents` documents (0: none) train the SAEs of models whose SAEs are
    trained here (a floor: an untrained checkpoint has no published SAEs).
    """

    kind: Literal["pretrained"]
    dataset: str
    split: str
    documents: Count
    training_documents: NonNegative
    context_length: ContextLength
    tokenizer: str


TokenSetSpec = TrainedTokens | PlantedTokens | PretrainedTokens

# --- sources --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LMTraining:
    """TransformerLens training loop settings; `max_steps` caps each epoch (null: whole epoch)."""

    epochs: Count
    max_steps: Count | None
    batch_size: Count
    lr: Positive
    warmup_steps: NonNegative
    weight_decay: NonNegativeFloat


@dataclass(frozen=True)
class TrainedModel:
    """A small TransformerLens transformer; `training: null` keeps its seeded random initialisation."""

    kind: Literal["trained"]
    tokens: str
    n_layers: Count
    d_model: Count
    n_heads: Count
    d_mlp: Count
    layers: list[NonNegative]  # the layers that get an SAE and are analysed (each below n_layers)
    seed: Seed
    training: LMTraining | None


@dataclass(frozen=True)
class LMSAETraining:
    """SAELens trainer settings (every layer's SAE trained from activations of one pass of its model)."""

    training_tokens: Count
    batch_size: Count
    lr: Positive
    lr_decay_fraction: UnitInterval  # share of the steps, at the end, over which the learning rate decays linearly to a tenth
    dead_window: Count  # steps without firing after which a latent is dead and trained by SAELens' AuxK loss
    activation_store: Literal["memory", "stream"]  # memory: one pass kept in RAM; stream: SAELens' multi-SAE runner's buffer


@dataclass(frozen=True)
class TrainedSAE:
    """A TopK SAE per layer; layer L is trained with seed `seed + L`."""

    d_sae: Count
    k: Count
    seed: Seed
    training: LMSAETraining


@dataclass(frozen=True)
class TrainedSource:
    kind: Literal["trained"]
    model: str
    tokens: str
    sae: TrainedSAE


@dataclass(frozen=True)
class PlantedModel:
    """A planted dictionary on one side of the world (its private features are that side's).

    geometry_noise mixes the shared features' directions between a linear image of the
    world's (0.0) and fresh random directions (1.0: unrelated to any other source).
    """

    kind: Literal["planted"]
    tokens: str
    side: Literal["a", "b"]
    d_model: Count
    geometry_noise: UnitInterval
    seed: Seed

    @property
    def layers(self) -> list[int]:
        return [0]


@dataclass(frozen=True)
class PlantedSAETraining:
    training_samples: Count
    batch_size: Count
    lr: Positive


@dataclass(frozen=True)
class PlantedSAE:
    d_sae: Count
    k: Count
    seed: Seed
    training: PlantedSAETraining


@dataclass(frozen=True)
class PlantedSource:
    kind: Literal["planted"]
    model: str
    tokens: str
    sae: PlantedSAE


@dataclass(frozen=True)
class PretrainedModel:
    """A hub model; `checkpoint` picks a training checkpoint (Pythia: the step, 0 = untrained), null the final weights."""

    kind: Literal["pretrained"]
    tokens: str
    model_name: str
    layers: list[NonNegative]
    checkpoint: NonNegative | None


@dataclass(frozen=True)
class PretrainedSAE:
    """Published SAEs: a SAELens release or a sparsify repository; `sae_id` may contain `{layer}`."""

    loader: Literal["saelens", "sparsify"]
    release: str
    sae_id: str


@dataclass(frozen=True)
class PretrainedSource:
    kind: Literal["pretrained"]
    model: str
    tokens: str
    sae: PretrainedSAE


ModelSpec = TrainedModel | PlantedModel | PretrainedModel
SourceSpec = TrainedSource | PlantedSource | PretrainedSource


@dataclass(frozen=True)
class Comparison:
    """SAE features of source `a` paired with those of source `b` over token set `tokens`.

    `layers`: `all` pairs every layer of A with every layer of B, `same` layer L with layer L
    only (the skyline: one model, two SAE seeds). `shuffle_seed` (an integer) pairs A's tokens
    with B's tokens of other windows, shuffled with that seed: token alignment is broken, so
    what passes the filters passes by chance. `buckets: false` leaves the appendix's
    multiplicity buckets unscored (comparisons read only at their 1-1 pairs). `sensitivity: true`
    runs the sensitivity grid and the subspace analyses on the comparison (B's windows unshuffled).
    """

    a: str
    b: str
    tokens: str
    layers: Literal["all", "same"]
    shuffle_seed: Seed | None
    buckets: bool
    sensitivity: bool


@dataclass(frozen=True)
class Paper:
    """The comparisons the manuscript quotes: the main one, its replicates with other seeds, its
    calibration (skyline, floor, shuffled windows) and the planted validation pair."""

    main: str
    replicates: list[str]
    skyline: str
    floor: str
    shuffled: str
    planted_related: str
    planted_unrelated: str

    def named(self) -> dict[str, str]:
        """Every comparison the paper quotes, keyed by its role (replicates as `replicate_1`, ...)."""
        roles = {role: getattr(self, role) for role in ("main", "skyline", "floor", "shuffled", "planted_related", "planted_unrelated")}
        return roles | {f"replicate_{i}": name for i, name in enumerate(self.replicates, start=1)}


# --- analysis -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extract:
    """How activations are read: the hook, batch sizes, checkpoint size, hook check."""

    hook: str
    batch_windows: Count
    chunk_windows: Count
    hook_check_windows: Count
    hook_check_max_fvu: Positive  # the hook check stops when an SAE's FVU on its configured hook exceeds this
    device: Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class PairingSettings:
    """Exact max-correlation pairing: `sparse` (co-activations, CPU) or `dense` (z-scored matmul)."""

    method: Literal["sparse", "dense"]
    chunk_size: Count  # query features per sparse block, or B features per dense block
    prefix: Count  # smallest-mean/sd keys each query is checked against for never co-firing partners
    min_support: Count  # activating tokens a feature needs to be paired
    token_chunk: Count  # tokens per dense matmul chunk
    device: str  # dense method: auto (CUDA when present), cpu, cuda, cuda:N


@dataclass(frozen=True)
class NonConcept:
    """Drop pairs whose features fire mostly on excluded token classes, or whose top tokens do not overlap."""

    enabled: bool
    top_k: Count
    token_classes: list[Literal["special", "whitespace", "punctuation", "digits"]]
    max_share: Share
    min_overlap: NonNegative


@dataclass(frozen=True)
class HeldOut:
    """Re-estimate each matched r on held-out windows that the pairing does not see."""

    enabled: bool
    fraction: OpenShare
    min_correlation: Threshold
    seed: Seed


@dataclass(frozen=True)
class Filters:
    min_correlation: Threshold | None  # keep pairs with r > this (null: no threshold)
    non_concept: NonConcept
    held_out: HeldOut


@dataclass(frozen=True)
class Subsets:
    """Which pairs are compared: the main body's 1-1 rule and the multiplicity buckets."""

    one_to_one: Literal["unique_partner", "mutual_nn", "assignment", "paper_first_occurrence"]
    cumulative: list[Count]
    ranges: list[tuple[Count, Count | None]]


@dataclass(frozen=True)
class Hubs:
    count: Count  # most-mapped A features listed per layer pair
    contexts: Count  # top-activating contexts shown per hub
    context_tokens: NonNegative  # tokens of context before the activating token


@dataclass(frozen=True)
class Similarity:
    svcca_variance: Share


@dataclass(frozen=True)
class Nulls:
    """Permutation nulls (row shuffle, group), size-matched random subsets, subsampling intervals."""

    permutations: Count
    size_matched_draws: Count
    ci_draws: Count
    ci_fraction: OpenShare  # share of groups (A partners) in each subsample
    ci_level: OpenShare
    seed: Seed
    device: str  # auto (CUDA when present), cpu, cuda
    precision: Literal["float64", "float32"]  # of the cross products, Gram matrices and their eigenvalues
    rsa_paper_max_n: MinPairs  # the paper's Spearman RSA (exact ranks of n(n-1)/2 similarities) up to this many pairs


@dataclass(frozen=True)
class Collapse:
    """Why scores rise as pairs become one-to-one: matched-size subsamples, correlation strata, hub signatures."""

    min_n: MinPairs  # fewest pairs (or distinct A partners) a bucket needs to be scored at the common size
    draws: Count  # subsamples per bucket (and shuffled draws for its chance band)
    level: OpenShare  # of the chance bands and subsample intervals
    r_strata: list[Correlation]  # edges of the pair-correlation strata
    dense_factor: Positive  # a hub is dense when it fires on this many times the median live A feature's share of tokens
    split_containment: Share  # a split hub's children lie inside its active tokens at least this much
    min_lift: Annotated[
        float, Range(1)
    ]  # ... and at least this many times the hub's own share of tokens (a dense hub contains any child by chance)
    seed: Seed


@dataclass(frozen=True)
class Sensitivity:
    """The settings the sensitivity grid tries besides the four 1-1 rules, both directions and the held-out filter on and off."""

    min_correlations: list[Threshold]  # thresholds of the correlation filter
    non_concept_top_k: list[Count]  # top tokens of the non-concept filter (and the filter off)
    token_fractions: list[Share]  # shares of the analysis windows paired, the first ones


@dataclass(frozen=True)
class Subspaces:
    """Pairs by what their features fire on: token identity and semantic categories, from each feature's top tokens."""

    top_k: Count  # top-activating tokens per feature
    identity_share: Share  # a token-identity feature: at least this share of its top tokens is one token
    rule: Literal["lexname", "word_lists"]  # a token's category: its WordNet gloss's lexicographer file, or the word list holding its text
    min_share: Annotated[
        float, Range(0.5, 1, open_low=True)
    ]  # a feature's category: the one more than half (at least this share) of its top tokens carry
    lexnames: list[str]  # the categories of rule lexname
    word_lists: dict[str, list[str]] | None  # the categories of rule word_lists: name -> words


@dataclass(frozen=True)
class AnonymousArtifact:
    """The double-blind archive (`make anonymous-artifact`): who must not be named in it, and whether it carries the cache."""

    authors: list[str]  # names and e-mail addresses of the authors; a member of the archive holding one is refused
    include_cache: bool  # bundle every cached output (models, SAEs, activations, results) as a DVC remote inside the archive


@dataclass(frozen=True)
class Params:
    token_sets: dict[str, TokenSetSpec]
    models: dict[str, ModelSpec]
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
    collapse: Collapse
    sensitivity: Sensitivity
    subspaces: Subspaces
    anonymous_artifact: AnonymousArtifact

    def hook_name(self, layer: int) -> str:
        return self.extract.hook.format(layer=layer)

    def model_of(self, source: str) -> ModelSpec:
        return self.models[self.sources[source].model]

    def layers(self, source: str) -> list[int]:
        """The layers of source `source` (its model's), one SAE each."""
        return list(self.model_of(source).layers)

    def skyline_side(self) -> str | None:
        """Which model of the main comparison ("a" or "b") the skyline pairs with itself; None: neither."""
        main, skyline = (self.comparisons[name] for name in (self.paper.main, self.paper.skyline))
        model = self.sources[skyline.a].model
        sides = [side for side in ("a", "b") if self.sources[getattr(main, side)].model == model == self.sources[skyline.b].model]
        return sides[0] if sides else None

    def layer_pairs(self, comparison: str) -> list[tuple[int, int]]:
        """Every (layer of A, layer of B) of a comparison: the grid its stages score."""
        spec = self.comparisons[comparison]
        return [(la, lb) for la in self.layers(spec.a) for lb in self.layers(spec.b) if spec.layers == "all" or la == lb]
