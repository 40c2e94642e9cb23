"""The pairing-level null: A's tokens read against B's tokens of other windows.

Shuffling whole windows breaks the token alignment between the two sides while keeping each
side's own statistics (how often and in what runs its features fire). A window is matched with
another window holding the same number of counted tokens, by a random cycle through each such
class, so no window meets itself; windows whose count no other window shares are dropped, and
so is nothing else. Planted token sets have no windows: each token is its own.
"""

from __future__ import annotations

import numpy as np


def shuffled_rows(windows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of A and the rows of B they are read against, for counted tokens in window order.

    `windows[t]` is the window of counted token t (non-decreasing). Returns (rows_a, rows_b):
    token rows_a[i] of A faces token rows_b[i] of B, which lies in another window at the same
    rank among that window's counted tokens.
    """
    if len(windows) and np.any(np.diff(windows) < 0):
        raise ValueError("shuffled_rows needs counted tokens in window order")
    ids, starts, counts = np.unique(windows, return_index=True, return_counts=True)
    rng = np.random.default_rng(seed)
    partner = np.full(len(ids), -1)
    for count in np.unique(counts):
        members = rng.permutation(np.flatnonzero(counts == count))
        if len(members) > 1:
            partner[members] = np.roll(members, -1)
    kept = np.flatnonzero(partner >= 0)
    offsets = [np.arange(counts[w]) for w in kept]
    rows_a = [starts[w] + offset for w, offset in zip(kept, offsets, strict=True)]
    rows_b = [starts[partner[w]] + offset for w, offset in zip(kept, offsets, strict=True)]
    empty = [np.zeros(0, dtype=np.int64)]
    return np.concatenate(rows_a + empty).astype(np.int64), np.concatenate(rows_b + empty).astype(np.int64)
