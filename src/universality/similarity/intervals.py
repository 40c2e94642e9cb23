"""Intervals for a subset's scores: the grouped jackknife on Fisher's z scale.

A subset's pairs fall into G groups (the B features that share an A partner); the groups, not
the pairs, are the independent units. Each metric is scored again with one block of groups
left out at a time: a block is one group, or, above `max_blocks` groups, one of `max_blocks`
seeded blocks of about equal size. With z = atanh(score), the K leave-out scores give the
jackknife standard error se = sqrt((K - 1) / K * sum (z_k - mean z)^2), and the interval is
tanh(z_observed -+ t_{K-1} se), cut to the metric's range. Fisher's z keeps the interval inside
[-1, 1] whatever the spread; a metric in [0, 1] has its lower end cut at 0.

An interval covers a metric's population value only where the score estimates it without a
bias that dominates at the subset's n: SVCCA, linear CKA and Procrustes grow as n falls towards
d (SVCCA is 1 at n <= d), so they get a status and no interval (`BIASED`). The others get one
from MIN_GROUPS groups on; `bench/intervals.py` measures the coverage on planted rows.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import t as student_t

BIASED = ("svcca", "cka", "procrustes")  # their finite-n bias dominates at the paper's n: no interval
UNIT_RANGE = ("svcca", "pc1_corr", "cka", "procrustes")  # in [0, 1]; the others in [-1, 1]
MIN_GROUPS = 20  # fewer groups than this: no interval (the smallest group count bench/intervals.py measures)
_EDGE = 1e-12  # scores within this of +-1 are moved inside before atanh


def leave_out_blocks(n_groups: int, max_blocks: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The groups left out by each jackknife replicate: one each, or `max_blocks` seeded blocks of about equal size."""
    if n_groups <= max_blocks:
        return [np.array([group]) for group in range(n_groups)]
    return np.array_split(rng.permutation(n_groups), max_blocks)


def jackknife_interval(observed: float, leave_out_scores: np.ndarray, level: float, unit_range: bool) -> list[float]:
    """tanh(atanh(observed) -+ t se) from the scores with each block left out, cut to the metric's range."""
    blocks = len(leave_out_scores)
    z = np.arctanh(np.clip(np.asarray(leave_out_scores, dtype=np.float64), -1 + _EDGE, 1 - _EDGE))
    centre = np.arctanh(np.clip(observed, -1 + _EDGE, 1 - _EDGE))
    se = np.sqrt((blocks - 1) / blocks * ((z - z.mean()) ** 2).sum())
    half = student_t.ppf(0.5 + level / 2, blocks - 1) * se
    low, high = np.tanh(centre - half), np.tanh(centre + half)
    return [float(max(low, 0.0) if unit_range else low), float(high)]


def interval_status(metric: str, n_groups: int) -> str | None:
    """Why a metric of a subset with `n_groups` groups gets no interval; None where it gets one."""
    if metric in BIASED:
        return "no interval: the score is biased at finite n"
    if n_groups < MIN_GROUPS:
        return f"no interval: fewer than {MIN_GROUPS} groups"
    return None
