"""The anatomy of a hub (an A feature that is the partner of many B features) and its signature.

Two mechanisms make hubs with different signatures:
- feature splitting: the B children are finer versions of the A concept. Each child fires
  inside the hub's tokens (high containment, and at least `collapse.min_lift` times the containment a
  child independent of the hub would show, which is the hub's density) and the children fire
  apart from one another (sibling co-firing below their co-firing with the hub).
- a catch-all: a dense, generic A feature (firing on many times the median feature's share of
  tokens) is the best available partner of weak, scattered B features (their mean r below the
  median r of all pairs).
A hub that shows neither signature is labelled `neither`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from universality.params.schema import Collapse

MAX_CHILDREN = 200  # children per hub in the pairwise statistics (a seeded sample above this)


def _mean_off_diagonal(matrix: np.ndarray) -> float | None:
    k = len(matrix)
    return float((matrix.sum() - np.trace(matrix)) / (k * (k - 1))) if k > 1 else None


def _sibling_statistics(active_children: sp.csc_matrix, W_children: np.ndarray) -> tuple[float | None, float | None]:
    """Mean pairwise Jaccard of the children's active tokens and mean pairwise cosine of their decoder rows."""
    binary = active_children.astype(np.float64)
    overlap = (binary.T @ binary).toarray()
    sizes = np.diag(overlap)
    jaccard = overlap / np.maximum(sizes[:, None] + sizes[None, :] - overlap, 1.0)
    unit = W_children / np.maximum(np.linalg.norm(W_children, axis=1, keepdims=True), 1e-12)
    return _mean_off_diagonal(jaccard), _mean_off_diagonal(unit @ unit.T)


def hub_anatomy(hub: int, pairs: pd.DataFrame, reverse: pd.DataFrame, active_a: sp.csc_matrix, active_b: sp.csc_matrix,
                W_dec_a: np.ndarray, W_dec_b: np.ndarray, rng: np.random.Generator) -> dict:  # fmt: skip
    """Firing density, decoder norm, children's r, co-firing and decoder cosines, and reverse multiplicity of A feature `hub`.

    `active_a`, `active_b`: tokens x features, True where a feature fires.
    """
    children = pairs[pairs["a_partner"] == hub]
    child_ids = children["b_feature"].to_numpy()
    if len(child_ids) > MAX_CHILDREN:
        child_ids = np.sort(rng.choice(child_ids, MAX_CHILDREN, replace=False))
    parent = active_a[:, [hub]].astype(np.float64)
    kids = active_b[:, child_ids].astype(np.float64)
    inside = (kids.T @ parent).toarray().ravel()
    kid_sizes = np.asarray(kids.sum(axis=0)).ravel()
    parent_size = float(parent.sum())
    union = np.asarray(kids.sum(axis=1)).ravel() > 0
    covered = float(parent.toarray().ravel()[union].sum())
    sibling_jaccard, sibling_cosine = _sibling_statistics(kids, W_dec_b[child_ids])
    best_b = reverse.loc[reverse["a_feature"] == hub, "b_best"]
    return {
        "a_feature": int(hub),
        "multiplicity": len(children),
        "mean_r": float(children["r"].mean()),
        "density": parent_size / active_a.shape[0],
        "decoder_norm": float(np.linalg.norm(W_dec_a[hub])),
        "containment": float(np.mean(inside / np.maximum(kid_sizes, 1.0))),
        "parent_jaccard": float(np.mean(inside / np.maximum(kid_sizes + parent_size - inside, 1.0))),
        "parent_coverage": covered / parent_size if parent_size else 0.0,
        "sibling_jaccard": sibling_jaccard,
        "sibling_cosine": sibling_cosine,
        "reverse_multiplicity": int((reverse["b_best"] == best_b.iloc[0]).sum()) if len(best_b) else 0,
    }


def signature(anatomy: dict, median_density: float, median_r: float, settings: Collapse) -> str:
    """`catch-all`, `split` or `neither` (see the module docstring)."""
    if anatomy["density"] >= settings.dense_factor * median_density and anatomy["mean_r"] < median_r:
        return "catch-all"
    siblings = anatomy["sibling_jaccard"]
    inside = anatomy["containment"] >= settings.split_containment and anatomy["containment"] >= settings.min_lift * anatomy["density"]
    if inside and siblings is not None and siblings < anatomy["parent_jaccard"]:
        return "split"
    return "neither"


def hub_anatomies(pairs: pd.DataFrame, reverse: pd.DataFrame, codes_a: sp.csr_matrix, codes_b: sp.csr_matrix,
                  W_dec_a: np.ndarray, W_dec_b: np.ndarray, hub_ids: list[int], settings: Collapse) -> list[dict]:  # fmt: skip
    """Anatomy and signature of each hub in `hub_ids`, read against the live A features' median density and all pairs' median r."""
    active_a, active_b = (codes_a != 0).tocsc(), (codes_b != 0).tocsc()
    density = np.asarray(active_a.sum(axis=0)).ravel() / codes_a.shape[0]
    median_density = float(np.median(density[reverse["a_feature"].to_numpy()]))
    median_r = float(pairs["r"].median())
    rng = np.random.default_rng(settings.seed)
    out = []
    for hub in hub_ids:
        anatomy = hub_anatomy(hub, pairs, reverse, active_a, active_b, W_dec_a, W_dec_b, rng)
        lift = anatomy["containment"] / anatomy["density"] if anatomy["density"] else None
        out.append(anatomy | {"density_ratio": anatomy["density"] / median_density if median_density else None, "containment_lift": lift,
                              "signature": signature(anatomy, median_density, median_r, settings)})  # fmt: skip
    return out
