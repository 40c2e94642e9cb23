"""Intervals: the grouped jackknife on Fisher's z scale, its range and its statuses (bench/intervals.py measures its
coverage); and the false-positive rate of the group null in null worlds (bench/calibration.py: every null, 200 worlds)."""

import numpy as np
from scipy.stats import t as student_t

from universality.similarity.engine import Engine
from universality.similarity.intervals import BIASED, MIN_GROUPS, interval_status, jackknife_interval, leave_out_blocks
from universality.similarity.metrics import METRICS
from universality.similarity.nulls import NullSettings, compare
from universality.similarity.size_matched import FeaturePools, size_matched_draw


def test_the_interval_is_the_jackknife_standard_error_on_fishers_z_scale():
    scores = np.array([0.40, 0.50, 0.55, 0.62])
    z = np.arctanh(scores)
    se = np.sqrt(3 / 4 * ((z - z.mean()) ** 2).sum())
    half = student_t.ppf(0.975, 3) * se
    expected = np.tanh(np.arctanh(0.5) + np.array([-half, half]))
    np.testing.assert_allclose(jackknife_interval(0.5, scores, 0.95, unit_range=False), expected, rtol=1e-12)


def test_an_interval_never_leaves_the_metrics_range_however_wide():
    scattered = np.array([-0.99, 0.999999, 0.2, -0.5, 1.0, -1.0])
    low, high = jackknife_interval(0.1, scattered, 0.95, unit_range=False)
    assert -1 <= low < 0.1 < high <= 1
    low, high = jackknife_interval(0.02, np.abs(scattered), 0.95, unit_range=True)
    assert low == 0.0 and 0.02 < high <= 1


def test_leave_out_blocks_are_single_groups_or_a_seeded_partition_of_every_group():
    assert [block.tolist() for block in leave_out_blocks(4, 10, np.random.default_rng(0))] == [[0], [1], [2], [3]]
    blocks = leave_out_blocks(103, 10, np.random.default_rng(5))
    assert len(blocks) == 10 and sorted(np.concatenate(blocks).tolist()) == list(range(103))
    assert {len(block) for block in blocks} == {10, 11}
    again = leave_out_blocks(103, 10, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(blocks, again, strict=True))


def test_biased_metrics_and_small_group_counts_get_a_status_not_an_interval():
    assert all(interval_status(metric, 1000) == "no interval: the score is biased at finite n" for metric in BIASED)
    assert interval_status("rsa", MIN_GROUPS - 1) == f"no interval: fewer than {MIN_GROUPS} groups"
    assert interval_status("rsa", MIN_GROUPS) is None


def test_the_group_null_false_rejects_at_most_8_percent_of_null_worlds_at_005():
    """Null worlds: A and B rows drawn independently from pools of unit rows, one-to-one and in groups of 1-6."""
    rng = np.random.default_rng(0)
    directions = np.linspace(2.0, 0.2, 24)
    pool_a = rng.standard_normal((400, 24)) * directions
    pool_a /= np.linalg.norm(pool_a, axis=1, keepdims=True)
    pool_b = rng.standard_normal((600, 32)) / np.linalg.norm(rng.standard_normal((600, 32)), axis=1, keepdims=True)
    pools = FeaturePools(pool_a, pool_b, rng.integers(0, 150, 600))
    settings = NullSettings(permutations=100, size_matched_draws=2, ci_draws=0, ci_fraction=0.8, ci_level=0.95)
    for group in (np.arange(40), np.repeat(np.arange(20), rng.integers(1, 7, 20))):
        rejected = {metric: 0 for metric in METRICS}
        worlds = 150
        for world in range(worlds):
            X, Y = size_matched_draw(pools, group, np.random.default_rng([1, world]))
            result = compare(X, Y, group, pools, Engine(0.99), settings, [2, world])
            for metric in METRICS:
                rejected[metric] += (result[metric]["group"]["p"] or 1.0) <= 0.05
        rates = {metric: count / worlds for metric, count in rejected.items()}
        assert max(rates.values()) <= 0.08, rates
