"""Benchmark: how often each metric's interval holds its population value, on planted rows.

Planted rows are decoder-like: G distinct A rows in d_A = 64 (unit norm, a decaying spectrum),
each with one B row (one-to-one) or a Zipf-sized group of B rows (many-to-one), B rows in
d_B = 96 a noisy linear image of their A row, Y = unit(signal X M + E). A world is a signal
strength; its population value of each metric is the score of 20,000 groups (the paper's RSA,
exact only up to 1,000 pairs, is the mean over five blocks of 1,000). Each replicate draws G
groups, computes the interval, and counts whether it holds the population value.

- `jackknife`: the grouped jackknife on Fisher's z scale (`similarity/intervals.py`);
- `subsampling`: 80% of the groups without replacement, deviations rescaled by
  sqrt(b / (G - b)) (`nulls.subsampling_interval`), 200 subsamples.

    python bench/intervals.py                  # writes bench/results/intervals.md
    python bench/intervals.py --replicates 50  # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from universality.similarity.engine import Engine
from universality.similarity.intervals import UNIT_RANGE, interval_status, jackknife_interval, leave_out_blocks
from universality.similarity.metrics import METRICS, rsa_paper
from universality.similarity.nulls import subsample_size, subsampling_interval

RESULTS = Path(__file__).parent / "results" / "intervals.md"
D_A, D_B = 64, 96
ENGINE = Engine(0.99, max_rank_pairs=1000)
LEVEL = 0.95
TARGET = (0.92, 0.98)
POPULATION_GROUPS = 20_000
MAX_BLOCKS = 200
SUBSAMPLES = 200
GROUP_COUNTS = (20, 50, 200)
WORLDS = {"strong": 1.0, "weak": 0.3}
STRUCTURES = ("one-to-one", "many-to-one")


@dataclass(frozen=True)
class World:
    """Planted rows: A rows with a decaying spectrum, B rows unit(signal A M + noise)."""

    signal: float
    many_to_one: bool
    seed: int = 0

    @property
    def mixing(self) -> np.ndarray:
        return np.random.default_rng(self.seed).standard_normal((D_A, D_B)) / np.sqrt(D_A)

    def group_sizes(self, n_groups: int, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(rng.zipf(2.0, n_groups), 20) if self.many_to_one else np.ones(n_groups, dtype=np.int64)

    def draw(self, n_groups: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, Y, group per row) of `n_groups` groups."""
        distinct = unit_rows(rng.standard_normal((n_groups, D_A)) * np.linspace(2.0, 0.2, D_A))
        group = np.repeat(np.arange(n_groups), self.group_sizes(n_groups, rng))
        noise = rng.standard_normal((len(group), D_B)) / np.sqrt(D_B)
        return distinct[group], unit_rows(self.signal * distinct[group] @ self.mixing + noise), group

    def population(self) -> dict[str, float]:
        X, Y, _ = self.draw(POPULATION_GROUPS, np.random.default_rng(10**6 + self.seed))
        values = ENGINE.observed(X, Y)
        values["rsa_paper"] = float(np.mean([rsa_paper(X[i : i + 1000], Y[i : i + 1000]) for i in range(0, 5000, 1000)]))
        return values


def unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def jackknife(X, Y, group, observed, rng) -> dict[str, list[float] | None]:
    blocks = leave_out_blocks(int(group.max()) + 1, MAX_BLOCKS, rng)
    left_out = [ENGINE.observed(X[keep], Y[keep]) for keep in (~np.isin(group, block) for block in blocks)]
    return {
        metric: jackknife_interval(observed[metric], np.array([s[metric] for s in left_out]), LEVEL, metric in UNIT_RANGE)
        for metric in METRICS
    }


def subsampling(X, Y, group, observed, rng) -> dict[str, list[float] | None]:
    n_groups = int(group.max()) + 1
    kept = subsample_size(n_groups, 0.8)
    assert kept is not None
    scores = [
        ENGINE.observed(X[rows], Y[rows]) for rows in (np.isin(group, rng.choice(n_groups, kept, replace=False)) for _ in range(SUBSAMPLES))
    ]
    return {
        metric: subsampling_interval(observed[metric], np.array([s[metric] for s in scores]), n_groups, kept, LEVEL) for metric in METRICS
    }


METHODS = {"jackknife": jackknife, "subsampling": subsampling}


def coverage(world: World, n_groups: int, replicates: int, methods: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per method and metric: the share of replicates whose interval holds the population value."""
    truth = world.population()
    held = {method: {metric: 0 for metric in METRICS} for method in methods}
    for replicate in range(replicates):
        rng = np.random.default_rng([world.seed, n_groups, replicate])
        X, Y, group = world.draw(n_groups, rng)
        observed = ENGINE.observed(X, Y)
        for method in methods:
            for metric, interval in METHODS[method](X, Y, group, observed, rng).items():
                held[method][metric] += interval is not None and interval[0] <= truth[metric] <= interval[1]
    return {method: {metric: count / replicates for metric, count in by_metric.items()} for method, by_metric in held.items()}


def table(rows: list[tuple[str, str, int, str, dict[str, float]]], replicates: int, seconds: float) -> str:
    lines = [
        "# Interval coverage on planted rows",
        "",
        f"Nominal level {LEVEL:.0%}; target {TARGET[0]:.2f}-{TARGET[1]:.2f}; {replicates} replicates per cell "
        f"(a share's standard error is about {np.sqrt(0.95 * 0.05 / replicates):.3f}); d_A = {D_A}, d_B = {D_B}. "
        f"Written by `python bench/intervals.py` in {seconds / 60:.0f} min. A cell in brackets is outside the target; "
        "`no interval` marks a metric the pipeline gives a status instead (biased at finite n, or too few groups).",
        "",
        "| world | rows | G | method | " + " | ".join(METRICS) + " |",
        "|---|---|---|---|" + "---|" * len(METRICS),
    ]
    for world, structure, n_groups, method, shares in rows:
        cells = []
        for metric in METRICS:
            share = f"{shares[metric]:.3f}"
            cells.append(share if TARGET[0] <= shares[metric] <= TARGET[1] else f"[{share}]")
            if method == "jackknife" and interval_status(metric, n_groups):
                cells[-1] += " (no interval)"
        lines.append(f"| {world} | {structure} | {n_groups} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--methods", default="jackknife,subsampling")
    args = parser.parse_args()
    methods = tuple(args.methods.split(","))
    start, rows = time.time(), []
    cells = list(itertools.product(WORLDS.items(), STRUCTURES, GROUP_COUNTS))
    for (name, signal), structure, n_groups in tqdm(cells, desc="coverage cells"):
        shares = coverage(World(signal, structure == "many-to-one"), n_groups, args.replicates, methods)
        rows += [(name, structure, n_groups, method, shares[method]) for method in methods]
        RESULTS.write_text(table(rows, args.replicates, time.time() - start))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
