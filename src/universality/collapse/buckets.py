"""One layer pair's multiplicity buckets, analysed: coverage, pair strength and the matched-size scores.

Per disjoint bucket (`subsets.ranges`): its coverage statistics, the distribution of r, the
score of all its pairs (raw), and at the common size: its pairs subsampled (matched), one row
per A partner (deduplicated, against the mean or the best-correlated of its B rows) and its
pairs within each stratum of r. Each common size is the smallest bucket's that reaches
`collapse.min_n`, in pairs (matched, strata) or distinct A partners (deduplicated).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from universality.collapse.matched import common_size, matched_scores, one_row_per_partner, strength
from universality.pairing.subsets import Subset, collapse_stats
from universality.params.schema import Collapse
from universality.similarity.engine import Engine

MIN_RAW_PAIRS = 4  # fewer paired rows than this get no raw score (RSA needs pairs of pairs)
DEDUPLICATIONS = ("mean", "best")


def _strata(settings: Collapse) -> list[tuple[float, float]]:
    edges = settings.r_strata
    return list(itertools.pairwise(edges))


def _in_stratum(pairs: pd.DataFrame, low: float, high: float) -> pd.DataFrame:
    return pairs[(pairs["r"] > low) & (pairs["r"] <= high)]


def bucket_analysis(engine: Engine, W_dec_a: np.ndarray, W_dec_b: np.ndarray, buckets: list[Subset], pairable: tuple[int, int],
                    settings: Collapse, rng: np.random.Generator) -> dict:  # fmt: skip
    """Every bucket's statistics and scores (see the module docstring), with the common sizes used."""
    strata = _strata(settings)
    sizes = {
        "matched": common_size([len(b.pairs) for b in buckets], settings.min_n),
        "deduplicated": common_size([b.pairs["a_partner"].nunique() for b in buckets], settings.min_n),
        "strata": [common_size([len(_in_stratum(b.pairs, lo, hi)) for b in buckets], settings.min_n) for lo, hi in strata],
    }

    def scored(X, Y, partners, n):
        return matched_scores(engine, X, Y, partners, n, settings.draws, rng, settings.level)

    records = []
    for bucket in buckets:
        pairs = bucket.pairs
        a, b = pairs["a_partner"].to_numpy(), pairs["b_feature"].to_numpy()
        record = {"subset": bucket.name, "label": bucket.label, "pairs": len(pairs), "distinct_a": len(np.unique(a)),
                  "collapse": collapse_stats(pairs, *pairable), "strength": strength(pairs)}  # fmt: skip
        raw = engine.observed(W_dec_a[a], W_dec_b[b]) if len(pairs) >= MIN_RAW_PAIRS else None
        record["raw"] = raw and {
            metric: value if np.isfinite(value) else None for metric, value in raw.items()
        }  # None: undefined (one distinct row)
        record["matched"] = scored(W_dec_a[a], W_dec_b[b], a, sizes["matched"])
        for how in DEDUPLICATIONS:
            partners, rows = one_row_per_partner(pairs, W_dec_b, how)
            record[f"deduplicated_{how}"] = scored(W_dec_a[partners], rows, partners, sizes["deduplicated"])
        record["strata"] = []
        for (low, high), n in zip(strata, sizes["strata"], strict=True):
            inside = _in_stratum(pairs, low, high)
            a_in, b_in = inside["a_partner"].to_numpy(), inside["b_feature"].to_numpy()
            record["strata"].append({"low": low, "high": high} | scored(W_dec_a[a_in], W_dec_b[b_in], a_in, n))
        records.append(record)
    return {"common_sizes": sizes, "buckets": records}
