"""Random subsets for the size-matched null: the same n and group structure, from filter-passing features.

A scored subset has n pairs in G groups (the B features that share an A partner). A draw
keeps that structure on both sides:

- A: G distinct random A features, one per group, each repeated as often as its group
  (the duplication pattern of X);
- B: n distinct random B features laid out in the same groups, where the B rows of one group
  come from one random donor group, the B features that share an A partner in the full
  pairing (so B rows within a group are as related as B features with a common partner are).
  Groups are filled largest first. The subset's own groups are donors of at least their own
  size, so this always succeeds on a real pairing; with other pools, a group larger than
  every donor left takes the largest donor whole and continues with the next.

Both pools hold only features that pass the per-feature filters (alive, enough activating
tokens, not a non-concept feature); the pairing itself is ignored, so the draw says what this
n, this duplication and these widths give by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeaturePools:
    """Decoder rows of the features that pass the per-feature filters, with each B feature's A partner."""

    a_rows: np.ndarray
    b_rows: np.ndarray
    b_partner: np.ndarray


def size_matched_draw(pools: FeaturePools, group_of_row: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random (X, Y) with the group structure of `group_of_row` (group index per row)."""
    sizes = np.bincount(group_of_row)
    if len(sizes) > len(pools.a_rows) or len(group_of_row) > len(pools.b_rows):
        raise ValueError(f"the size-matched pools ({len(pools.a_rows)} A, {len(pools.b_rows)} B features) are smaller than the subset")
    a = rng.choice(len(pools.a_rows), len(sizes), replace=False)
    donors, donor_of_b = np.unique(pools.b_partner, return_inverse=True)
    members = np.split(np.argsort(donor_of_b, kind="stable"), np.cumsum(np.bincount(donor_of_b))[:-1])
    left = np.array([len(m) for m in members])
    rows_b = np.empty(len(group_of_row), dtype=np.int64)
    for group in np.argsort(-sizes, kind="stable"):
        drawn = []
        need = sizes[group]
        while need:
            if not left.any():
                raise ValueError("the size-matched pool has too few donor groups for this subset's groups")
            large_enough = np.flatnonzero(left >= need)
            donor = rng.choice(large_enough) if len(large_enough) else int(np.argmax(left))
            take = min(need, left[donor])
            drawn.append(rng.choice(members[donor], take, replace=False))
            left[donor], need = 0, need - take
        rows_b[group_of_row == group] = np.concatenate(drawn)
    return pools.a_rows[a][group_of_row], pools.b_rows[rows_b]
