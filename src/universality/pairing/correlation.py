"""Pairing SAE features of two models by maximum Pearson correlation of their activations.

For every pairable feature j of B (live, i.e. of non-zero variance, and with at least
`min_support` activating tokens): partner a(j) = argmax_i corr(A[:, i], B[:, j]) over the
tokens, r(j) its value, the runner-up and its value; the same for every pairable feature of A
over B (the reverse direction); and whether j and a(j) are mutual nearest neighbours.

Two exact methods give the same result:

- `pair_sparse` (sparse codes, CPU): corr(i, j) = (s_ij / N - mu_i mu_j) / (sd_i sd_j) with
  s_ij = sum_t a_ti b_tj, which is non-zero only where i and j co-fire. s is a sparse-sparse
  product formed one block of query features at a time, so the cost follows the
  co-activations (sum over tokens of L0_A x L0_B) and the dense F_A x F_B matrix never
  exists. Two features that never co-fire have corr = -c_i c_j with c = mu / sd > 0 (SAE codes
  are non-negative), not zero; the best of those partners are the keys with the smallest c,
  so each query is also compared with the `prefix` smallest-c keys it never co-fires with. A
  query that co-fires with all but one of them is computed densely instead.
- `pair_dense` (any activations, GPU when present): the usual z-scored matmul, one block of
  B features at a time, accumulated over chunks of tokens.

Dead features (zero variance over the tokens) and rare ones (fewer than `min_support`
activating tokens: two features that fire once, on the same token, have r = 1) are never
partners and never NaN; both are counted. Ties go to the lowest feature index, for the best
and for the runner-up. Means, variances (two-pass) and cross products are float64 whatever
the cache's dtype; the dense method computes in float64 unless told otherwise.

Both methods also return every pair (A, B) with r above `edge_threshold` (at least 0): the
edges of the maximum-weight 1-1 assignment. A positive r needs co-firing (never-co-firing
pairs have r < 0), so the sparse method finds all of them among the co-activations.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from universality.errors import InputError

_RELATIVE_VARIANCE_FLOOR = 1e-24  # variance / mean square of a dead feature: a constant gives ~1e-32 in float64
_NONE = np.iinfo(np.int64).max  # key of "no candidate": loses every tie
_PREFIX_MARGIN = 1e-9  # relative gap in c demanded between the runner-up and the first key outside the prefix


@dataclass(frozen=True)
class FeatureStats:
    mean: np.ndarray
    std: np.ndarray
    live: np.ndarray  # non-zero variance
    support: np.ndarray  # activating (non-zero) tokens

    def subset(self, index: np.ndarray) -> FeatureStats:
        return FeatureStats(self.mean[index], self.std[index], self.live[index], self.support[index])


@dataclass(frozen=True)
class Top2:
    """Best and runner-up key (value, key index) per query; keys of absent candidates are _NONE."""

    value: np.ndarray
    key: np.ndarray
    value_second: np.ndarray
    key_second: np.ndarray

    @staticmethod
    def empty(n: int) -> Top2:
        return Top2(np.full(n, -np.inf), np.full(n, _NONE), np.full(n, -np.inf), np.full(n, _NONE))

    def put(self, rows: np.ndarray, other: Top2) -> None:
        self.value[rows], self.key[rows] = other.value, other.key
        self.value_second[rows], self.key_second[rows] = other.value_second, other.key_second

    def relabel(self, ids: np.ndarray) -> Top2:
        """Map key positions to ids (e.g. pairable index -> feature index); _NONE stays _NONE."""
        return Top2(self.value, _map_keys(self.key, ids), self.value_second, _map_keys(self.key_second, ids))


@dataclass(frozen=True)
class Pairing:
    """Result of pairing B's features with A's.

    pairs: one row per paired B feature (b_feature, a_partner, r, a_second, r_second, mutual, multiplicity).
    reverse: one row per paired A feature (a_feature, b_best, r_best, b_second, r_second).
    edges: every pair (a, b, r) with r above the edge threshold.
    A missing runner-up (only one paired feature on the other side) has index -1 and value -inf.
    """

    pairs: pd.DataFrame
    reverse: pd.DataFrame
    edges: pd.DataFrame
    n_features_a: int
    n_features_b: int
    dead_a: int
    dead_b: int
    rare_a: int  # alive but below the minimum support
    rare_b: int


def feature_stats(codes: sp.spmatrix | np.ndarray) -> FeatureStats:
    """Per-feature mean, population standard deviation (two-pass), liveness and support, in float64."""
    n_tokens = codes.shape[0]
    if sp.issparse(codes):
        csc = sp.csc_matrix(codes, dtype=np.float64, copy=True)  # scipy sums float32 data in float32
        csc.eliminate_zeros()
        support = np.diff(csc.indptr)
        column = np.repeat(np.arange(csc.shape[1]), support)
        mean = np.bincount(column, weights=csc.data, minlength=csc.shape[1]) / n_tokens
        squares = np.bincount(column, weights=(csc.data - mean[column]) ** 2, minlength=csc.shape[1])
        var = (squares + (n_tokens - support) * mean**2) / n_tokens  # the silent tokens deviate by -mean
    else:
        dense = np.asarray(codes, dtype=np.float64)
        mean, support = dense.mean(axis=0), np.count_nonzero(dense, axis=0)
        var = ((dense - mean) ** 2).mean(axis=0)
    live = var > _RELATIVE_VARIANCE_FLOOR * np.maximum(var + mean**2, np.finfo(np.float64).tiny)
    return FeatureStats(mean=mean, std=np.sqrt(var), live=live, support=support)


def correlation_from_moments(cross_mean, mean_q, std_q, mean_k, std_k):
    """Pearson correlation from the mean cross product E[q k] and each side's mean and sd."""
    return (cross_mean - mean_q * mean_k) / (std_q * std_k)


# --- reductions with the tie rule -------------------------------------------------------------


def _map_keys(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return np.where(keys == _NONE, _NONE, ids[np.minimum(keys, len(ids) - 1)])


def _better(value, key, other_value, other_key):
    return (value > other_value) | ((value == other_value) & (key < other_key))


def merge_top2(a: Top2, b: Top2) -> Top2:
    """Top-2 of the union of two disjoint candidate sets."""
    a_wins = _better(a.value, a.key, b.value, b.key)
    winner_second = (np.where(a_wins, a.value_second, b.value_second), np.where(a_wins, a.key_second, b.key_second))
    loser_first = (np.where(a_wins, b.value, a.value), np.where(a_wins, b.key, a.key))
    second_from_winner = _better(*winner_second, *loser_first)
    return Top2(
        np.where(a_wins, a.value, b.value),
        np.where(a_wins, a.key, b.key),
        np.where(second_from_winner, winner_second[0], loser_first[0]),
        np.where(second_from_winner, winner_second[1], loser_first[1]),
    )


def segment_top2(values: np.ndarray, keys: np.ndarray, indptr: np.ndarray) -> Top2:
    """Top-2 per CSR row segment (entries in any order within a row)."""
    n_rows = len(indptr) - 1
    result = Top2.empty(n_rows)
    lengths = np.diff(indptr)
    rows = np.flatnonzero(lengths)
    if len(rows) == 0:
        return result
    starts = indptr[rows]
    segment = np.repeat(np.arange(n_rows), lengths)

    result.value[rows] = np.maximum.reduceat(values, starts)
    at_best = values == result.value[segment]
    result.key[rows] = np.minimum.reduceat(np.where(at_best, keys, _NONE), starts)
    rest = ~(at_best & (keys == result.key[segment]))
    rest_values = np.where(rest, values, -np.inf)
    result.value_second[rows] = np.maximum.reduceat(rest_values, starts)
    at_second = rest & (rest_values == result.value_second[segment])
    result.key_second[rows] = np.minimum.reduceat(np.where(at_second, keys, _NONE), starts)
    return result


def dense_top2(values: torch.Tensor, dim: int) -> Top2:
    """Top-2 along `dim` of a dense block; keys are positions along `dim` (first position wins ties)."""
    best, best_key = values.max(dim=dim)
    masked = values.scatter(dim, best_key.unsqueeze(dim), -torch.inf)
    second, second_key = masked.max(dim=dim)
    value, key, value_second, key_second = (t.cpu().numpy() for t in (best.double(), best_key, second.double(), second_key))
    return Top2(value, _absent_where_neginf(value, key), value_second, _absent_where_neginf(value_second, key_second))


def _absent_where_neginf(value: np.ndarray, key: np.ndarray) -> np.ndarray:
    return np.where(np.isneginf(value), _NONE, key).astype(np.int64)


# --- the sparse method ------------------------------------------------------------------------


@dataclass(frozen=True)
class _SparseSide:
    """One side's pairable features: codes (tokens x pairable features, float64 CSR) and statistics."""

    codes: sp.csr_matrix
    stats: FeatureStats

    @property
    def c(self) -> np.ndarray:
        return self.stats.mean / self.stats.std


def _nearest_sparse(
    query: _SparseSide, key: _SparseSide, chunk_size: int, prefix: int, workers: int, desc: str, edge_threshold: float | None = None
) -> tuple[Top2, pd.DataFrame | None]:
    """Top-2 key feature (pairable index) of every pairable query feature, exactly, from sparse codes;
    with `edge_threshold`, also every (query, key) pair with r above it (pairable indices)."""
    n_tokens, n_keys = key.codes.shape
    order = np.lexsort((np.arange(n_keys), key.c))
    prefix_ids = np.sort(order[:prefix])
    boundary = key.c[order[prefix]] if prefix < n_keys else np.inf
    position = np.full(n_keys, -1)
    position[prefix_ids] = np.arange(len(prefix_ids))
    query_t = query.codes.T.tocsr()
    key_codes = key.codes.tocsr()

    def block(start: int) -> tuple[Top2, pd.DataFrame | None]:
        rows = slice(start, min(start + chunk_size, query_t.shape[0]))
        cross = query_t[rows] @ key_codes
        mean_q, std_q = query.stats.mean[rows], query.stats.std[rows]
        segment = np.repeat(np.arange(len(mean_q)), np.diff(cross.indptr))
        cols = cross.indices
        corr = correlation_from_moments(cross.data / n_tokens, mean_q[segment], std_q[segment], key.stats.mean[cols], key.stats.std[cols])
        cofiring = segment_top2(corr, cols.astype(np.int64), cross.indptr)
        edges = None
        if edge_threshold is not None:
            above = corr > edge_threshold
            edges = pd.DataFrame({"query": segment[above] + start, "key": cols[above].astype(np.int64), "r": corr[above]})

        in_prefix = position[cols] >= 0
        cofires_with_prefix = np.zeros((len(mean_q), len(prefix_ids)), dtype=bool)
        cofires_with_prefix[segment[in_prefix], position[cols[in_prefix]]] = True
        never = correlation_from_moments(0.0, mean_q[:, None], std_q[:, None], key.stats.mean[prefix_ids], key.stats.std[prefix_ids])
        never[cofires_with_prefix] = -np.inf
        never_cofiring = dense_top2(torch.from_numpy(never), dim=1).relabel(prefix_ids)
        result = merge_top2(cofiring, never_cofiring)

        # The prefix holds the best never-co-firing keys only if it has two of them, clear of the boundary.
        second = never_cofiring.key_second
        unsure = (second == _NONE) | (key.c[np.minimum(second, n_keys - 1)] >= boundary * (1 - _PREFIX_MARGIN))
        if unsure.any():
            rows_unsure = np.flatnonzero(unsure)
            dense_cross = (query_t[rows][rows_unsure] @ key_codes).toarray() / n_tokens
            exact = correlation_from_moments(
                dense_cross, mean_q[rows_unsure, None], std_q[rows_unsure, None], key.stats.mean, key.stats.std
            )
            result.put(rows_unsure, dense_top2(torch.from_numpy(exact), dim=1))
        return result, edges

    starts = range(0, query_t.shape[0], chunk_size)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        blocks = list(tqdm(pool.map(block, starts), total=len(starts), desc=desc, unit="block"))
    top2 = Top2(*(np.concatenate([getattr(b, field) for b, _ in blocks]) for field in ("value", "key", "value_second", "key_second")))
    return top2, pd.concat([edges for _, edges in blocks], ignore_index=True) if edge_threshold is not None else None


def _pairable_side(codes: sp.spmatrix, stats: FeatureStats, pairable: np.ndarray) -> _SparseSide:
    return _SparseSide(codes.tocsc()[:, pairable].astype(np.float64).tocsr(), stats.subset(pairable))


def pair_sparse(
    codes_a: sp.spmatrix, codes_b: sp.spmatrix, chunk_size: int = 1024, prefix: int = 256, workers: int | None = None,
    min_support: int = 1, edge_threshold: float = 0.0,
) -> Pairing:  # fmt: skip
    """Exact pairing from non-negative sparse codes (tokens x features); see the module docstring."""
    for name, codes in (("A", codes_a), ("B", codes_b)):
        if codes.nnz and codes.data.min() < 0:
            raise ValueError(
                f"sparse pairing needs non-negative codes (SAE activations), but {name} has negative values: use `pairing.method: dense`"
            )
    sides = _PairedFeatures.of(codes_a, codes_b, min_support)
    side_a, side_b = (
        _pairable_side(codes, stats, ids) for codes, stats, ids in ((codes_a, sides.stats_a, sides.a), (codes_b, sides.stats_b, sides.b))
    )
    workers = workers or len(os.sched_getaffinity(0))
    forward, edges = _nearest_sparse(side_b, side_a, chunk_size, prefix, workers, "pairing B -> A", max(edge_threshold, 0.0))
    reverse, _ = _nearest_sparse(side_a, side_b, chunk_size, prefix, workers, "pairing A -> B")
    assert edges is not None  # an edge threshold was given
    edges = pd.DataFrame({"a": sides.a[edges["key"].to_numpy()], "b": sides.b[edges["query"].to_numpy()], "r": edges["r"].to_numpy()})
    return _assemble(codes_a.shape[1], codes_b.shape[1], sides, forward, reverse, edges)


# --- the dense method -------------------------------------------------------------------------


def _standardized(codes, rows: slice, stats: FeatureStats, features: np.ndarray, device: str, dtype: torch.dtype) -> torch.Tensor:
    """z-scored activations of `features` over a chunk of tokens, on `device`."""
    chunk = codes[rows]
    chunk = chunk.toarray() if sp.issparse(chunk) else np.asarray(chunk)
    x = torch.as_tensor(chunk[:, features], device=device, dtype=dtype)
    mean = torch.as_tensor(stats.mean[features], device=device, dtype=dtype)
    std = torch.as_tensor(stats.std[features], device=device, dtype=dtype)
    return (x - mean) / std


def pair_dense(
    codes_a, codes_b, chunk_size: int = 2048, token_chunk: int = 4096, device: str = "cpu", dtype: torch.dtype = torch.float64,
    min_support: int = 1, edge_threshold: float = 0.0,
) -> Pairing:  # fmt: skip
    """Pairing by z-scored matmul (sparse or dense inputs), B features in blocks, tokens in chunks.

    Exact (to float64 rounding) with the default dtype; float32 is faster on a GPU and approximate.
    """
    sides = _PairedFeatures.of(codes_a, codes_b, min_support)
    pairable_a, pairable_b = sides.a, sides.b
    n_tokens = codes_a.shape[0]
    token_chunks = [slice(start, min(start + token_chunk, n_tokens)) for start in range(0, n_tokens, token_chunk)]
    forward = Top2.empty(len(pairable_b))
    reverse = Top2.empty(len(pairable_a))
    edges = []
    for start in tqdm(range(0, len(pairable_b), chunk_size), desc="pairing (dense)", unit="block"):
        cols = pairable_b[start : start + chunk_size]
        block = torch.zeros(len(pairable_a), len(cols), device=device, dtype=dtype)
        for rows in token_chunks:
            za = _standardized(codes_a, rows, sides.stats_a, pairable_a, device, dtype)
            zb = _standardized(codes_b, rows, sides.stats_b, cols, device, dtype)
            block.addmm_(za.T, zb)
        block /= n_tokens
        forward.put(np.arange(start, start + len(cols)), dense_top2(block, dim=0))
        in_block = dense_top2(block, dim=1)
        offset = Top2(
            in_block.value,
            in_block.key + start,
            in_block.value_second,
            np.where(in_block.key_second == _NONE, _NONE, in_block.key_second + start),
        )
        reverse = merge_top2(reverse, offset)
        a, b = torch.nonzero(block > max(edge_threshold, 0.0), as_tuple=True)
        edges.append(pd.DataFrame({"a": pairable_a[a.cpu().numpy()], "b": cols[b.cpu().numpy()], "r": block[a, b].double().cpu().numpy()}))
    return _assemble(codes_a.shape[1], codes_b.shape[1], sides, forward, reverse, pd.concat(edges, ignore_index=True))


# --- shared -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PairedFeatures:
    """Both sides' statistics and the features that can be paired: alive and with enough activating tokens."""

    stats_a: FeatureStats
    stats_b: FeatureStats
    a: np.ndarray
    b: np.ndarray

    @staticmethod
    def of(codes_a, codes_b, min_support: int) -> _PairedFeatures:
        if codes_a.shape[0] != codes_b.shape[0]:
            raise ValueError(f"token counts differ: A has {codes_a.shape[0]}, B has {codes_b.shape[0]}")
        stats_a, stats_b = feature_stats(codes_a), feature_stats(codes_b)
        a, b = (np.flatnonzero(stats.live & (stats.support >= min_support)) for stats in (stats_a, stats_b))
        if not len(a) or not len(b):
            raise InputError(
                f"no feature of one SAE is alive with at least {min_support} activating tokens (pairing.min_support) on this token set: nothing can be paired"
            )
        return _PairedFeatures(stats_a, stats_b, a, b)

    def rare(self, side: str) -> int:
        stats, paired = (self.stats_a, self.a) if side == "a" else (self.stats_b, self.b)
        return int(stats.live.sum()) - len(paired)


def _assemble(n_a: int, n_b: int, sides: _PairedFeatures, forward: Top2, reverse: Top2, edges: pd.DataFrame) -> Pairing:
    """Tables in feature indices from top-2 results in paired-feature indices."""
    pairable_a, pairable_b = sides.a, sides.b
    forward, reverse = forward.relabel(pairable_a), reverse.relabel(pairable_b)
    partner = forward.key
    best_b_of_a = np.full(n_a, -1, dtype=np.int64)
    best_b_of_a[pairable_a] = reverse.key
    pairs = pd.DataFrame(
        {
            "b_feature": pairable_b.astype(np.int64),
            "a_partner": partner,
            "r": forward.value,
            "a_second": _missing_as_minus_one(forward.key_second),
            "r_second": forward.value_second,
            "mutual": best_b_of_a[partner] == pairable_b,
            "multiplicity": np.bincount(partner, minlength=n_a)[partner].astype(np.int64),
        }
    )
    reverse_table = pd.DataFrame(
        {
            "a_feature": pairable_a.astype(np.int64),
            "b_best": reverse.key,
            "r_best": reverse.value,
            "b_second": _missing_as_minus_one(reverse.key_second),
            "r_second": reverse.value_second,
        }
    )
    edges = edges.astype({"a": np.int64, "b": np.int64}).sort_values(["b", "a"]).reset_index(drop=True)
    dead_a, dead_b = n_a - int(sides.stats_a.live.sum()), n_b - int(sides.stats_b.live.sum())
    return Pairing(pairs, reverse_table, edges, n_a, n_b, dead_a=dead_a, dead_b=dead_b, rare_a=sides.rare("a"), rare_b=sides.rare("b"))


def _missing_as_minus_one(keys: np.ndarray) -> np.ndarray:
    return np.where(keys == _NONE, -1, keys).astype(np.int64)
