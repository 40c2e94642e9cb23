import itertools

import numpy as np
import pandas as pd
import pytest

from universality.pairing.subsets import collapse_stats, cumulative_buckets, hubs, one_to_one, optimal_assignment, range_buckets


def make_pairs():
    # A feature 0 has 1 B partner, A feature 1 has 3, A feature 2 has 12.
    partners = [0] + [1] * 3 + [2] * 12
    counts = pd.Series(partners).map(pd.Series(partners).value_counts())
    mutual = [True, False, True, False] + [False] * 11 + [True]
    return pd.DataFrame(
        {"b_feature": range(16), "a_partner": partners, "r": [0.05] + [0.5] * 14 + [0.9], "multiplicity": counts, "mutual": mutual}
    )


def test_multiplicity_is_counted_before_filters():
    pairs = make_pairs()
    kept = pairs[pairs["r"] > 0.1]
    assert one_to_one(kept, "unique_partner").pairs.empty  # the only m = 1 pair fell to the filter; none became 1-1


def test_one_to_one_rules():
    pairs = make_pairs()
    assert one_to_one(pairs, "unique_partner").pairs["b_feature"].tolist() == [0]
    assert one_to_one(pairs, "mutual_nn").pairs["b_feature"].tolist() == [0, 2, 15]
    first = one_to_one(pairs, "paper_first_occurrence")
    assert first.pairs["b_feature"].tolist() == [0, 1, 4] and "paper" in first.label
    with pytest.raises(ValueError, match="unknown 1-1 rule 'best'"):
        one_to_one(pairs, "best")


def brute_force_assignment(candidates):
    """Largest total r over all 1-1 subsets of the candidate edges with r > 0 (tiny inputs only)."""
    edges = list(candidates[candidates["r"] > 0].itertuples(index=False))
    best, best_total = [], 0.0
    for size in range(1, len(edges) + 1):
        for chosen in itertools.combinations(edges, size):
            if len({e.a for e in chosen}) == size and len({e.b for e in chosen}) == size:
                total = sum(e.r for e in chosen)
                if total > best_total + 1e-12:
                    best, best_total = chosen, total
    return best_total, sorted((e.b, e.a) for e in best)


@pytest.mark.parametrize("seed", range(5))
def test_optimal_assignment_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    # two components: A {0..3} x B {0..3} and A {10, 11} x B {20, 21}, with a negative edge
    edges = {(a, b) for a, b in zip(rng.integers(0, 4, 9), rng.integers(0, 4, 9), strict=True)} | {(10, 20), (11, 20), (11, 21)}
    a, b = zip(*sorted(edges), strict=True)
    r = rng.uniform(-0.2, 1.0, len(a))
    candidates = pd.DataFrame({"a": a, "b": b, "r": r})
    expected_total, expected_pairs = brute_force_assignment(candidates)
    chosen = optimal_assignment(candidates)
    assert chosen["r"].sum() == pytest.approx(expected_total)
    assert chosen["a_partner"].is_unique and chosen["b_feature"].is_unique
    assert (chosen["r"] > 0).all()
    if len(set(r)) == len(r):  # a unique optimum
        assert sorted(zip(chosen["b_feature"], chosen["a_partner"], strict=True)) == expected_pairs


def test_assignment_prefers_reassigning_a_hub_follower():
    # B 0 and B 1 both prefer A 0; B 1's runner-up A 1 makes the total larger
    candidates = pd.DataFrame({"a": [0, 0, 1], "b": [0, 1, 1], "r": [0.9, 0.8, 0.7]})
    chosen = one_to_one(pd.DataFrame(), "assignment", candidates).pairs
    assert sorted(zip(chosen["b_feature"], chosen["a_partner"], strict=True)) == [(0, 0), (1, 1)]


def test_cumulative_and_range_buckets():
    pairs = make_pairs()
    cumulative = {s.name: len(s.pairs) for s in cumulative_buckets(pairs, [1, 10])}
    assert cumulative == {"cum_le_1": 1, "cum_le_10": 4, "cum_all": 16}
    ranges = {s.name: len(s.pairs) for s in range_buckets(pairs, [(1, 1), (2, 10), (11, None)])}
    assert ranges == {"range_1": 1, "range_2_10": 3, "range_11_up": 12}


def test_collapse_stats_known_values():
    pairs = make_pairs()
    stats = collapse_stats(pairs, pairable_a=6, pairable_b=32)
    assert stats["coverage_b"] == pytest.approx(0.5)
    assert stats["coverage_a"] == pytest.approx(0.5)
    assert stats["distinct_partner_ratio"] == pytest.approx(3 / 16)
    p = np.array([1, 3, 12]) / 16
    assert stats["effective_partners"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    one = collapse_stats(pairs.iloc[[0, 1, 4]], pairable_a=6, pairable_b=32)
    assert one["distinct_partner_ratio"] == 1.0 and one["effective_partners"] == pytest.approx(3.0)


def test_hubs_are_the_most_mapped_features():
    table = hubs(make_pairs(), count=2)
    assert table["a_feature"].tolist() == [2, 1]
    assert table["multiplicity"].tolist() == [12, 3]
    assert table["mean_r"].iloc[0] == pytest.approx((11 * 0.5 + 0.9) / 12)
