"""Benchmark: the false-positive rate of every null's p in null worlds built from the default build's own pools.

Reads one layer pair of a built comparison (`dvc repro` or `make pull-cache` first): its decoder
rows, `pair`'s tables, its 1-1 set and one many-to-one bucket. Each world keeps a subset's n
and group structure and has no alignment between A and B rows:

- `pools`: independent rows drawn from the filter-passing features (`size_matched_draw`: A rows
  repeated per group, B rows of a group from one donor), what `feature_pools` gives the
  size-matched null itself;
- `selected`: the subset's own rows, its distinct A rows dealt to its B groups at random, so
  each side keeps the spectrum of the selected features.

Each world gets `similarity.nulls.compare` with every null; a p at most 0.05 is a false
positive. A calibrated p has a rate near 0.05 (with W worlds its standard error is about
sqrt(0.05 0.95 / W)).

    python bench/calibration.py                 # writes bench/results/calibration.md
    python bench/calibration.py --worlds 40     # a quick look
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from universality.layer_pairs import read_layer_pair
from universality.pairing.subsets import Subset, one_to_one, range_buckets
from universality.params.loading import load_params
from universality.similarity.engine import engine_for
from universality.similarity.metrics import METRICS
from universality.similarity.nulls import NULLS, NullSettings, compare
from universality.similarity.scoring import feature_pools
from universality.similarity.size_matched import FeaturePools, size_matched_draw

RESULTS = Path(__file__).parent / "results" / "calibration.md"
ALPHA, TARGET = 0.05, (0.03, 0.07)
SETTINGS = NullSettings(permutations=200, size_matched_draws=100, ci_draws=0, ci_fraction=0.8, ci_level=0.95)
MANY_TO_ONE = (2, 10)  # the bucket of B features whose A partner has 2-10 partners


def world_rows(world: str, subset: Subset, rows: tuple[np.ndarray, np.ndarray], pools: FeaturePools,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(X, Y, A partner per row) of one null world with `subset`'s structure."""
    partners = subset.pairs["a_partner"].to_numpy()
    distinct, group = np.unique(partners, return_inverse=True)
    if world == "pools":
        X, Y = size_matched_draw(pools, group, rng)
        return X, Y, group
    W_a, W_b = rows
    dealt = rng.permutation(len(distinct))
    return W_a[distinct[dealt]][group], W_b[subset.pairs["b_feature"].to_numpy()], group


def false_positive_rates(subset: Subset, rows, pools, engine, worlds: int, world: str, seed: int) -> dict[str, dict[str, float]]:
    """Per null and metric: the share of `worlds` null worlds with p <= ALPHA."""
    hits: dict[str, dict[str, list[bool]]] = {null: {metric: [] for metric in METRICS} for null in NULLS}
    for index in tqdm(range(worlds), desc=f"{world} worlds, {subset.name}", leave=False):
        rng = np.random.default_rng([seed, index])
        X, Y, group = world_rows(world, subset, rows, pools, rng)
        result = compare(X, Y, group, pools, engine, SETTINGS, [seed, index, 1])
        for null in NULLS:
            for metric in METRICS:
                p = result[metric][null]["p"] if result["status"] == "ok" else None
                if p is not None:
                    hits[null][metric].append(p <= ALPHA)
    return {null: {metric: float(np.mean(v)) if v else float("nan") for metric, v in by.items()} for null, by in hits.items()}


def table(rows: list[tuple[str, str, int, int, str, dict[str, float]]], worlds: int, source: str, seconds: float) -> str:
    lines = [
        "# False-positive rates of the nulls in null worlds",
        "",
        f"Layer pair {source}; {worlds} worlds per row; share of worlds with p <= {ALPHA} (target {TARGET[0]}-{TARGET[1]}; "
        f"standard error about {np.sqrt(ALPHA * (1 - ALPHA) / worlds):.3f}). {SETTINGS.permutations} permutations, "
        f"{SETTINGS.size_matched_draws} size-matched draws per world. A rate in brackets is outside the target. "
        f"Written by `python bench/calibration.py` in {seconds / 60:.0f} min.",
        "",
        "| world | subset | n | groups | null | " + " | ".join(METRICS) + " |",
        "|---|---|---|---|---|" + "---|" * len(METRICS),
    ]
    for world, subset, n, groups, null, rates in rows:
        cells = [f"{r:.3f}" if TARGET[0] <= r <= TARGET[1] else f"[{r:.3f}]" for r in rates.values()]
        lines.append(f"| {world} | {subset} | {n} | {groups} | {null} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", type=int, default=200)
    parser.add_argument("--comparison", default="main")
    parser.add_argument("--layers", default="1,1", help="layer_a,layer_b")
    args = parser.parse_args()
    params = load_params()
    layer_a, layer_b = (int(x) for x in args.layers.split(","))
    inputs = read_layer_pair(params, args.comparison, layer_a, layer_b)
    kept, edges = inputs.pairs[inputs.pairs["kept"]], inputs.edges[inputs.edges["kept"]]
    rows = (inputs.cache_a.W_dec, inputs.cache_b.W_dec)
    pools = feature_pools(*rows, inputs.pairs, inputs.reverse)
    subsets = [one_to_one(kept, params.subsets.one_to_one, edges), *range_buckets(kept, [MANY_TO_ONE])]
    engine, start, out = engine_for(params), time.time(), []
    for world in ("pools", "selected"):
        for subset in subsets:
            rates = false_positive_rates(subset, rows, pools, engine, args.worlds, world, params.nulls.seed)
            n, groups = len(subset.pairs), subset.pairs["a_partner"].nunique()
            out += [(world, subset.name, n, groups, null, rates[null]) for null in NULLS]
            RESULTS.write_text(table(out, args.worlds, f"{args.comparison} L{layer_a}-L{layer_b}", time.time() - start))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
