"""Random subsets for the size-matched null: the same n and group structure, from filter-passing features.

A scored subset has n pairs in G groups (the B features that share an A partner). A draw
keeps that structure on both sides:

- A: G distinct random A features, one per group, each repeated as often as its group
  (the duplication pattern of X);
- B: n distinct random B features laid out in the same groups, where the B rows of one group
  come from one random donor group, the B features that share an A partner in the full
  pairing (so B rows within a group are as related as B features with a common partner are).
  Groups are filled largest first, each from a donor no other group has used while one large
  enough is left; then from the rest of a used donor; a group larger than every donor takes
  the largest whole and continues with the next. (A 1-1 assignment can hold more pairs than
  there are donors, so donors may have to be shared.)

Both pools hold only features that pass the per-feature filters (alive, enough activating
tokens, not a non-concept feature); the pairing itself is ignored, so the draw says what this
n, this duplication and these widths give by chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class FeaturePools:
    """Decoder rows of the features that pass the per-feature filters, with each B feature's A partner."""

    a_rows: np.ndarray
    b_rows: np.ndarray
    b_partner: np.ndarray

    @cached_property
    def donors(self) -> list[np.ndarray]:
        """The B features (indices into b_rows) of each donor group: those that share an A partner."""
        _, donor_of_b = np.unique(self.b_partner, return_inverse=True)
        return np.split(np.argsort(donor_of_b, kind="stable"), np.cumsum(np.bincount(donor_of_b))[:-1])


def size_matched_draw(pools: FeaturePools, group_of_row: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random (X, Y) with the group structure of `group_of_row` (group index per row)."""
    sizes = np.bincount(group_of_row)
    if len(sizes) > len(pools.a_rows) or len(group_of_row) > len(pools.b_rows):
        raise ValueError(f"the size-matched pools ({len(pools.a_rows)} A, {len(pools.b_rows)} B features) are smaller than the subset")
    a = rng.choice(len(pools.a_rows), len(sizes), replace=False)
    members = list(pools.donors)  # a copy of the list: members are removed as they are drawn
    used = np.zeros(len(members), dtype=bool)
    left = np.array([len(m) for m in members])
    rows_b = np.empty(len(group_of_row), dtype=np.int64)
    rows_of_group = np.split(np.argsort(group_of_row, kind="stable"), np.cumsum(sizes)[:-1])
    for group in np.argsort(-sizes, kind="stable"):
        drawn, need = [], sizes[group]
        while need:
            donor = _donor(left, used, need, rng)
            take = rng.choice(len(members[donor]), min(need, left[donor]), replace=False)
            drawn.append(members[donor][take])
            members[donor] = np.delete(members[donor], take)
            used[donor], need, left[donor] = True, need - len(take), left[donor] - len(take)
        rows_b[rows_of_group[group]] = np.concatenate(drawn)
    return pools.a_rows[a][group_of_row], pools.b_rows[rows_b]


def _donor(left: np.ndarray, used: np.ndarray, need: int, rng: np.random.Generator) -> int:
    """A random unused donor with `need` members left, else a used one, else the one with most left."""
    for candidates in (np.flatnonzero(~used & (left >= need)), np.flatnonzero(left >= need)):
        if len(candidates):
            return int(rng.choice(candidates))
    return int(np.argmax(left))
