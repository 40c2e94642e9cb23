"""Nulls and the statistics reported beside every score.

For paired decoder rows X (n x d_A) and Y (n x d_B) in G groups (the B rows that share an A
partner), every metric of `metrics.METRICS` gets three nulls with the same n, filters and
k rule:

- `row_shuffle`: Y's rows permuted against X's (the paper's null);
- `group`: every B row stays in place and the G distinct A rows are reassigned across the B
  groups, whatever their sizes (X = A_distinct[pi][group]), so duplicated X rows cannot fake
  similarity (for a 1-1 set it is the row shuffle, and reports its draws);
- `size_matched`: random subsets of filter-passing features with the same n and group
  structure on both sides (`size_matched.py`): what this n, duplication and these d give by chance.

Where there are no more distinct permutations (n! or G!) than requested, all are enumerated
and p is exact: the share of them, the identity included, scoring at least the observed.
Otherwise p = (b + 1) / (m + 1) with b of m random ones scoring at least the observed (never 0).
Scores are compared with a tolerance (`TIE_TOLERANCE`), so the observed score and its own copy
among the nulls tie. A non-finite observed or null score, and a group null with one group,
give a status and no p. Per null also mean, sd, z and the chance-corrected effect
(observed - null mean) / (1 - null mean), undefined (None) when the null mean is 1 to within
1e-6.

Interval: b of the G groups are drawn without replacement (b = ci_fraction G); the deviations of
the subsample scores from the observed one, rescaled by the finite-sample factor
sqrt(b / (G - b)), give a basic interval (observed - upper quantile, observed - lower quantile).

Every draw is scored by one `engine.Engine` (docs/scoring.md). Benjamini-Hochberg q-values
are taken over an explicit family by `family_q_values`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import false_discovery_control

from universality.params.schema import Nulls
from universality.similarity.engine import Engine
from universality.similarity.metrics import METRICS, svcca
from universality.similarity.size_matched import FeaturePools, size_matched_draw

MIN_PAIRS = 4  # debiased CKA needs four rows
NULLS = ("row_shuffle", "group", "size_matched")
TIE_TOLERANCE = 1e-9  # scores this close (relative to max(1, |observed|)) count as equal
_MAX_ENUMERATED = 10  # permutations of more elements are only ever sampled (10! = 3.6 million)
_SATURATED = 1e-6  # a null mean this close to 1 leaves no room for an effect (e.g. SVCCA with n <= d)


@dataclass(frozen=True)
class NullSettings:
    permutations: int
    size_matched_draws: int
    ci_draws: int
    ci_fraction: float
    ci_level: float


def null_settings(nulls: Nulls) -> NullSettings:
    """The draws and interval `params.yaml`'s nulls section asks for."""
    return NullSettings(nulls.permutations, nulls.size_matched_draws, nulls.ci_draws, nulls.ci_fraction, nulls.ci_level)


def p_value(observed: float, null: np.ndarray, exhaustive: bool = False) -> float:
    """Share of null scores at least the observed (within TIE_TOLERANCE); add-one unless `null` is every permutation."""
    at_least = int(np.count_nonzero(null >= observed - TIE_TOLERANCE * max(1.0, abs(observed))))
    return at_least / len(null) if exhaustive else (at_least + 1) / (len(null) + 1)


def summarize(observed: float, null: np.ndarray, exhaustive: bool = False) -> dict[str, Any]:
    """Null mean, sd, z, p and effect; a status and no numbers where a score is not finite."""
    empty = {"null_mean": None, "null_sd": None, "z": None, "p": None, "effect": None, "draws": len(null), "exhaustive": exhaustive}
    if not np.isfinite(observed):
        return empty | {"status": "non-finite score"}
    if len(null) == 0 or not np.isfinite(null).all():
        return empty | {"status": "non-finite null score" if len(null) else "no null draws"}
    sd = float(null.std(ddof=1)) if len(null) > 1 else 0.0
    mean = float(null.mean())
    return empty | {
        "status": "ok",
        "null_mean": mean,
        "null_sd": sd,
        "z": (observed - mean) / sd if sd > 0 else 0.0,
        "p": p_value(observed, null, exhaustive),
        "effect": (observed - mean) / (1.0 - mean) if mean < 1.0 - _SATURATED else None,
    }


def permutations_to_score(size: int, requested: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Every permutation of range(size) when there are at most `requested` of them (exhaustive), else `requested` random ones."""
    if size <= _MAX_ENUMERATED and math.factorial(size) <= requested:
        return np.array(list(itertools.permutations(range(size))), dtype=np.int64), True
    return np.stack([rng.permutation(size) for _ in range(requested)]), False


def _distinct_rows_on_both_sides(X: np.ndarray, Y: np.ndarray) -> bool:
    """Whether neither side is one row repeated (an O(n d) check: some row differs from the first)."""
    return bool((X[0] != X).any() and (Y[0] != Y).any())


def subsampling_interval(observed: float, subsample_scores: np.ndarray, n_groups: int, n_sub: int, level: float) -> list[float]:
    """Basic subsampling interval: observed - quantiles of (subsample - observed) * sqrt(b / (n - b))."""
    deviations = (np.asarray(subsample_scores) - observed) * np.sqrt(n_sub / (n_groups - n_sub))
    tail = (1 - level) / 2
    high, low = np.quantile(deviations, [1 - tail, tail])
    return [float(observed - high), float(observed - low)]


def subsample_size(n_groups: int, fraction: float) -> int | None:
    """Groups per subsample: `fraction` of them, at least 2 and at most all but one (None below 3 groups)."""
    return min(n_groups - 1, max(2, round(fraction * n_groups))) if n_groups >= 3 else None


def compare(
    X: np.ndarray, Y: np.ndarray, groups: np.ndarray, pools: FeaturePools, engine: Engine, settings: NullSettings, seed
) -> dict[str, Any]:
    """Every metric of paired rows with its three nulls, effects and a subsampling interval.

    Subsets that cannot be scored get a status instead of a score: fewer than MIN_PAIRS pairs,
    or one side whose rows are all the same decoder row (e.g. a bucket holding a single A
    feature and its many partners). Where every group holds one pair (a 1-1 set), reassigning
    the groups is shuffling the rows: the group null reports the row-shuffle draws.
    """
    n = len(X)
    if n < MIN_PAIRS:
        return {"n": n, "status": "too few pairs"}
    if not _distinct_rows_on_both_sides(X, Y):
        return {"n": n, "status": "one distinct row"}
    rng = np.random.default_rng(seed)
    clusters, first_row, group_of_row = np.unique(groups, return_index=True, return_inverse=True)
    G = len(clusters)
    shuffled = engine.row_shuffles(X, Y)
    observed = {metric: float(values[0]) for metric, values in shuffled.scores(np.arange(n)[None]).items()}
    shuffles, shuffles_exhaustive = permutations_to_score(n, settings.permutations, rng)
    null_scores = {"row_shuffle": shuffled.scores(shuffles)}
    exhaustive = {"row_shuffle": shuffles_exhaustive, "size_matched": False}
    reference = {"row_shuffle": observed, "size_matched": observed}
    if n == G:
        null_scores["group"], exhaustive["group"], reference["group"] = null_scores["row_shuffle"], shuffles_exhaustive, observed
    elif G >= 2:
        reassignments, exhaustive["group"] = permutations_to_score(G, settings.permutations, rng)
        reassigned = engine.reassignments(X[first_row], group_of_row, Y)
        null_scores["group"] = reassigned.scores(reassignments)
        # compared with its own identity score: the two code paths may differ where a metric is ill-conditioned (tied PCs)
        reference["group"] = {metric: float(values[0]) for metric, values in reassigned.scores(np.arange(G)[None]).items()}
    draws = [engine.observed(*size_matched_draw(pools, group_of_row, rng)) for _ in range(settings.size_matched_draws)]
    null_scores["size_matched"] = {metric: np.array([d[metric] for d in draws]) for metric in METRICS}

    n_sub = subsample_size(G, settings.ci_fraction)
    subsamples = []
    for _ in range(settings.ci_draws if n_sub else 0):
        rows = np.flatnonzero(np.isin(groups, rng.choice(clusters, n_sub, replace=False)))
        if len(rows) >= MIN_PAIRS and _distinct_rows_on_both_sides(X[rows], Y[rows]):
            subsamples.append(engine.observed(X[rows], Y[rows]))

    svcca_detail = svcca(X, Y, engine.variance)
    result: dict[str, Any] = {"n": n, "status": "ok", "groups": int(G), "ci_draws_used": len(subsamples)}
    for metric in METRICS:
        scores = np.array([d[metric] for d in subsamples])
        finite = len(scores) > 1 and np.isfinite(scores).all() and np.isfinite(observed[metric])
        result[metric] = {
            "observed": observed[metric] if np.isfinite(observed[metric]) else None,  # undefined: its nulls give the status
            # n_sub is None only below 3 groups, where no subsample is drawn and `finite` is False
            "ci": subsampling_interval(observed[metric], scores, G, n_sub, settings.ci_level) if finite and n_sub is not None else None,
        }
        for null in NULLS:
            if null in null_scores:
                anchor = reference[null][metric] if np.isfinite(observed[metric]) else np.nan
                result[metric][null] = summarize(anchor, null_scores[null][metric], exhaustive[null])
            else:
                result[metric][null] = summarize(np.nan, np.array([])) | {"status": "one group"}
    if n > engine.max_rank_pairs:
        status = f"not computed: n above nulls.rsa_paper_max_n ({engine.max_rank_pairs})"
        result["rsa_paper"] = {"observed": None, "ci": None} | {
            null: summarize(np.nan, np.array([])) | {"status": status} for null in NULLS
        }
    result["svcca"] |= {"k_x": svcca_detail.k_x, "k_y": svcca_detail.k_y, "canonical_correlations": svcca_detail.correlations.tolist()}
    result["null_scores"] = null_scores
    return result


def family_q_values(records: dict[str, list[dict[str, Any]]]) -> None:
    """Benjamini-Hochberg q-values over one family, in place: every p of every record, keyed by comparison.

    A subset scored twice (the same pairs of the same layer pair, e.g. the m <= 1 bucket and the
    1-1 set) is one hypothesis per metric and null: it is counted once and both get its q.
    """
    tests: dict[tuple, float] = {}
    for comparison, group in records.items():
        for record in group:
            for metric, null in itertools.product(METRICS, NULLS):
                if record.get("status") == "ok" and record[metric][null]["p"] is not None:
                    tests.setdefault(_test_key(comparison, record, metric, null), record[metric][null]["p"])
    q = dict(zip(tests, false_discovery_control(list(tests.values())), strict=True)) if tests else {}
    for comparison, group in records.items():
        for record in group:
            for metric, null in itertools.product(METRICS, NULLS):
                if record.get("status") == "ok":
                    key = _test_key(comparison, record, metric, null)
                    record[metric][null]["q"] = float(q[key]) if key in q else None


def _test_key(comparison: str, record: dict[str, Any], metric: str, null: str) -> tuple:
    return (comparison, record["layer_a"], record["layer_b"], record["pairs_digest"], metric, null)
