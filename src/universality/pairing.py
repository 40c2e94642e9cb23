"""Pairing SAE features of two models by maximum Pearson correlation of their activations.

For every live feature j of B: partner a(j) = argmax_i corr(A[:, i], B[:, j]) over the
tokens, r(j) its value, the second-best value, and whether j is also A's best match for
a(j) (mutual nearest neighbour). Correlations are exact: the cross term sum_t a_ti b_tj is
a sparse-sparse product, combined with per-feature means and variances; it is formed one
chunk of B features at a time, never as one dense F_A x F_B matrix. Features that never
co-fire get their true (negative) correlation, not zero.

Dead features (zero variance over the tokens) are never partners; they are counted.
Ties go to the lowest feature index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

_RELATIVE_VARIANCE_FLOOR = 1e-10


@dataclass(frozen=True)
class FeatureStats:
    mean: np.ndarray
    std: np.ndarray
    live: np.ndarray


@dataclass(frozen=True)
class Pairing:
    """Result of pairing B's features with A's.

    pairs: one row per live B feature (b_feature, a_partner, r, r_second, mutual, multiplicity).
    reverse: one row per live A feature (a_feature, b_best, r_best).
    """

    pairs: pd.DataFrame
    reverse: pd.DataFrame
    n_features_a: int
    n_features_b: int
    dead_a: int
    dead_b: int


def feature_stats(codes: sp.csr_matrix) -> FeatureStats:
    """Per-feature mean, population standard deviation and liveness, in float64."""
    n_tokens = codes.shape[0]
    mean = np.asarray(codes.sum(axis=0), dtype=np.float64).ravel() / n_tokens
    mean_sq = np.asarray(codes.multiply(codes).sum(axis=0), dtype=np.float64).ravel() / n_tokens
    var = np.maximum(mean_sq - mean**2, 0.0)
    live = var > _RELATIVE_VARIANCE_FLOOR * np.maximum(mean_sq, np.finfo(np.float64).tiny)
    return FeatureStats(mean=mean, std=np.sqrt(var), live=live)


def correlation_block(
    a_transposed: sp.csr_matrix, b_block: sp.csc_matrix, stats_a: FeatureStats, mean_b: np.ndarray, std_b: np.ndarray
) -> np.ndarray:
    """Exact Pearson correlations between all A features and a block of B features (F_A x block)."""
    n_tokens = b_block.shape[0]
    cross = (a_transposed @ b_block).toarray().astype(np.float64) / n_tokens
    cov = cross - np.outer(stats_a.mean, mean_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(stats_a.std, std_b)
    corr[~stats_a.live, :] = -np.inf
    return corr


def pair_features(codes_a: sp.csr_matrix, codes_b: sp.csr_matrix, chunk_size: int = 2048) -> Pairing:
    """Pair every live B feature with its max-correlation A feature (see module docstring)."""
    if codes_a.shape[0] != codes_b.shape[0]:
        raise ValueError(f"token counts differ: A has {codes_a.shape[0]}, B has {codes_b.shape[0]}")
    stats_a, stats_b = feature_stats(codes_a), feature_stats(codes_b)
    if not stats_a.live.any() or not stats_b.live.any():
        raise ValueError("every feature of one SAE is dead on this token set: nothing can be paired")
    live_b = np.flatnonzero(stats_b.live)
    a_transposed = codes_a.T.tocsr().astype(np.float64)
    b_live = codes_b.tocsc()[:, live_b].astype(np.float64)

    n_a = codes_a.shape[1]
    partner = np.empty(len(live_b), dtype=np.int64)
    best = np.empty(len(live_b))
    second = np.full(len(live_b), -np.inf)
    reverse_best = np.full(n_a, -np.inf)
    reverse_arg = np.full(n_a, -1, dtype=np.int64)
    for start in tqdm(range(0, len(live_b), chunk_size), desc="pairing", unit="chunk"):
        stop = min(start + chunk_size, len(live_b))
        cols = live_b[start:stop]
        corr = correlation_block(a_transposed, b_live[:, start:stop], stats_a, stats_b.mean[cols], stats_b.std[cols])
        arg = corr.argmax(axis=0)
        partner[start:stop] = arg
        best[start:stop] = corr[arg, np.arange(stop - start)]
        if n_a > 1:
            second[start:stop] = np.partition(corr, n_a - 2, axis=0)[n_a - 2]
        row_arg = corr.argmax(axis=1)
        row_best = corr[np.arange(n_a), row_arg]
        better = row_best > reverse_best
        reverse_best[better] = row_best[better]
        reverse_arg[better] = cols[row_arg[better]]

    multiplicity = np.bincount(partner, minlength=n_a)[partner]
    pairs = pd.DataFrame(
        {
            "b_feature": live_b.astype(np.int64),
            "a_partner": partner,
            "r": best,
            "r_second": second,
            "mutual": reverse_arg[partner] == live_b,
            "multiplicity": multiplicity.astype(np.int64),
        }
    )
    live_a = np.flatnonzero(stats_a.live)
    reverse = pd.DataFrame({"a_feature": live_a, "b_best": reverse_arg[live_a], "r_best": reverse_best[live_a]})
    return Pairing(
        pairs=pairs,
        reverse=reverse,
        n_features_a=n_a,
        n_features_b=codes_b.shape[1],
        dead_a=int((~stats_a.live).sum()),
        dead_b=int((~stats_b.live).sum()),
    )
