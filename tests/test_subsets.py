import pandas as pd

from universality.subsets import correlation_filter, cumulative_buckets, one_to_one, range_buckets


def make_pairs():
    # A feature 0 has 1 B partner, A feature 1 has 3, A feature 2 has 12.
    partners = [0] + [1] * 3 + [2] * 12
    counts = pd.Series(partners).map(pd.Series(partners).value_counts())
    return pd.DataFrame(
        {"b_feature": range(16), "a_partner": partners, "r": [0.05] + [0.5] * 15, "multiplicity": counts}
    )


def test_filter_reports_removed_count_and_keeps_multiplicity():
    kept, removed = correlation_filter(make_pairs(), 0.1)
    assert removed == 1 and len(kept) == 15
    assert one_to_one(kept).pairs.empty  # the only m = 1 pair fell to the filter; none became 1-1


def test_one_to_one_is_unique_partner():
    subset = one_to_one(make_pairs())
    assert subset.pairs["b_feature"].tolist() == [0]


def test_cumulative_and_range_buckets():
    pairs = make_pairs()
    cumulative = {s.name: len(s.pairs) for s in cumulative_buckets(pairs, [1, 10])}
    assert cumulative == {"cum_le_1": 1, "cum_le_10": 4, "cum_all": 16}
    ranges = {s.name: len(s.pairs) for s in range_buckets(pairs, [(1, 1), (2, 10), (11, None)])}
    assert ranges == {"range_1": 1, "range_2_10": 3, "range_11_up": 12}
