"""Benchmark: scoring one subset with the paper's settings, every metric and null, at n = 2,000 / 8,000 / 30,000.

The subset is many-to-1 like a multiplicity bucket: n pairs in n/4 groups of Zipf-like sizes,
d_A = 512 vs d_B = 768, decoder-like rows (unit norm). The paper's settings: 1,000 row-shuffle
and 1,000 group permutations, 200 size-matched draws, 200 interval subsamples, all seven metrics
(rsa_paper exact up to `nulls.rsa_paper_max_n` = 1,000 pairs).

- this engine (`similarity.nulls.compare`): run in full, each case in its own process (peak
  memory is that process's maximum resident set); above `--fraction-above` pairs with a tenth
  of every draw count and the seconds scaled up (its cost is linear in the counts);
- today's engine (commit `TODAY`, the n x n version, loaded from git): setup plus a few draws of
  each kind timed and scaled to the paper's counts; where its n x n matrices cannot fit in this
  machine's memory, extrapolated by n^2 from the largest n it ran;
- the floor: the matrix-product FLOPs this engine performs, at this machine's measured rate.

    python bench/scoring.py              # writes bench/results/scoring.md
    python bench/scoring.py --sizes 2000 --precision float64
    python bench/scoring.py --fresh      # measure every case again (else those in scoring.json are kept)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from universality.similarity.engine import Engine
from universality.similarity.nulls import NullSettings, compare
from universality.similarity.size_matched import FeaturePools

RESULTS = Path(__file__).parent / "results" / "scoring.md"
CASES = RESULTS.with_suffix(".json")  # every measured case, so that a rerun measures only what is missing
TODAY = "4ae037b"  # the engine before this benchmark's one: n x n matrices for RSA, rsa_paper and debiased CKA
PAPER = NullSettings(permutations=1000, size_matched_draws=200, ci_draws=200, ci_fraction=0.8, ci_level=0.95)
D_A, D_B, POOL = 512, 768, 32768
TODAY_MAX_N = 8000  # beyond this today's n x n matrices (several of 8 n^2 bytes) do not fit in 24 GiB
# The grid projection's nominal layer pair (an assumption, not a measurement): 32,768 B features, 20,000 kept pairs,
# the 1-1 assignment and every bucket of params.yaml with these n (the m = 1 range is the m <= 1 bucket, scored once)
GRID_LAYER_PAIRS = 6 * 12
NOMINAL_SUBSETS = {"1-1 assignment": 8000, "m <= 1": 5000, "m <= 10": 10000, "m <= 100": 14000, "m <= 1000": 18000, "all": 20000,
                   "m 2-10": 5000, "m 11-100": 4000, "m 101-250": 2000, "m > 250": 4000}  # fmt: skip


def subset(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, FeaturePools]:
    """Paired unit rows X (n x 512), Y (n x 768) in n/4 groups of Zipf-like sizes, and pools of 32,768 features."""
    rng = np.random.default_rng(seed)
    groups = n // 4
    weights = 1.0 / np.arange(1, groups + 1) ** 0.8
    group = np.concatenate([np.arange(groups), rng.choice(groups, n - groups, p=weights / weights.sum())])
    mixing = rng.standard_normal((D_A, D_B)) / np.sqrt(D_A)
    a_pool = rng.standard_normal((POOL, D_A)) * np.geomspace(1.0, 0.1, D_A)
    b_pool = a_pool @ mixing + 0.5 * rng.standard_normal((POOL, D_B))
    a_pool, b_pool = (p / np.linalg.norm(p, axis=1, keepdims=True) for p in (a_pool, b_pool))
    partner = rng.integers(0, POOL // 4, POOL)
    X, Y = a_pool[group], b_pool[rng.choice(POOL, n, replace=False)]
    Y = 0.7 * Y + 0.3 * (X @ mixing) / np.linalg.norm(X @ mixing, axis=1, keepdims=True)
    return X, Y, group, FeaturePools(a_pool, b_pool, partner)


def gemm_flops(n: int, groups: int, settings: NullSettings) -> float:
    """Matrix-product FLOPs of one subset in this engine: cross products and Gram matrices (both RSA's unit rows and the raw ones)."""
    cross, gram_a, gram_b = 2 * D_A * D_B, 2 * D_A**2, 2 * D_B**2
    setup = lambda rows: rows * (2 * gram_a + 2 * gram_b)  # noqa: E731 - per scorer: both sides' Gram matrices, raw and unit
    row_shuffle = setup(n) + settings.permutations * 2 * n * cross
    group = setup(n) + settings.permutations * 2 * groups * (cross + gram_a)
    draws = settings.size_matched_draws * (setup(n) + 2 * n * cross) + settings.ci_draws * settings.ci_fraction * (setup(n) + 2 * n * cross)
    return row_shuffle + group + draws


def matmul_rate(device: str, size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Measured float32 and float64 FLOP/s of a square matmul."""
    rates = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        a = torch.randn(size, size, device=device, dtype=dtype)
        a @ a
        started = time.perf_counter()
        for _ in range(repeats):
            a @ a
        rates[name] = 2 * size**3 * repeats / (time.perf_counter() - started)
    return rates


def run_this_engine(n: int, precision: str, device: str, fraction: float) -> dict:
    """The full comparison, or one with `fraction` of every draw count and its seconds divided by it (setup counted 1/fraction times)."""
    X, Y, group, pools = subset(n)
    settings = dataclasses.replace(
        PAPER, **{k: max(1, round(getattr(PAPER, k) * fraction)) for k in ("permutations", "size_matched_draws", "ci_draws")}
    )
    started = time.perf_counter()
    result = compare(X, Y, group, pools, Engine(0.99, precision, device, 1000), settings, seed=[0, n])
    seconds = (time.perf_counter() - started) / fraction
    scores = {m: result[m]["observed"] for m in ("svcca", "rsa", "cka_debiased", "procrustes")}
    return {"seconds": seconds, "fraction": fraction, "peak_gib": _peak_gib(), "groups": len(np.unique(group)), "scores": scores}


def run_today(n: int, draws: int) -> dict:
    """Today's engine: setup and `draws` draws of each kind timed, scaled to the paper's counts."""
    today = _load_today()
    X, Y, group, pools = subset(n)
    rng = np.random.default_rng(0)
    _, first_row, group_of_row = np.unique(group, return_index=True, return_inverse=True)
    timings = {}
    started = time.perf_counter()
    shuffled = today.permutations.PermutedScores(X, Y, 0.99)
    reassigned = today.reassigned.ReassignedScores(X[first_row], group_of_row, Y, 0.99)
    timings["setup"] = time.perf_counter() - started
    for name, scorer, size in (("row_shuffle", shuffled, n), ("group", reassigned, len(first_row))):
        started = time.perf_counter()
        scorer.scores(np.stack([rng.permutation(size) for _ in range(draws)]))
        timings[name] = (time.perf_counter() - started) / draws * PAPER.permutations
    started = time.perf_counter()
    for _ in range(draws):
        today.nulls._fresh_scores(*today.size_matched.size_matched_draw(pools, group_of_row, rng), 0.99, "cpu")
    fresh = (time.perf_counter() - started) / draws
    timings["draws"] = fresh * (PAPER.size_matched_draws + PAPER.ci_draws * PAPER.ci_fraction)
    return {"seconds": sum(timings.values()), "peak_gib": _peak_gib(), "timings": timings}


def _load_today():
    """Today's similarity modules from git, as a package `today` (their imports of each other rewritten)."""
    root = Path(tempfile.mkdtemp()) / "today"
    root.mkdir()
    (root / "__init__.py").write_text("")
    names = ("permutations", "reassigned", "size_matched", "nulls")
    for name in names:
        source = subprocess.run(
            ["git", "show", f"{TODAY}:src/universality/similarity/{name}.py"], check=True, capture_output=True, text=True
        ).stdout
        for other in names:
            source = source.replace(f"universality.similarity.{other} ", f"today.{other} ")
        (root / f"{name}.py").write_text(source)
    sys.path.insert(0, str(root.parent))
    import today

    for name in names:
        spec = importlib.util.spec_from_file_location(f"today.{name}", root / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"today.{name}"] = module
        spec.loader.exec_module(module)
        setattr(today, name, module)
    return today


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _case(args: list[str]) -> dict:
    """One case in a fresh process, so that its peak memory is its own."""
    output = subprocess.run([sys.executable, __file__, "--case", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 8000, 30000])
    parser.add_argument("--precision", default="float32", choices=["float32", "float64"])
    parser.add_argument("--today-draws", type=int, default=3, help="draws of each kind timed for today's engine")
    parser.add_argument("--fraction-above", type=int, default=8000, help="sizes above this run a fraction of the draws, scaled")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--fresh", action="store_true", help="rerun cases already in bench/results/scoring.json")
    parser.add_argument("--conditions", default="", help="how the cases were measured (commit, what else ran), printed under the table")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--case", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, n, *options = args.case
        result = (
            run_this_engine(int(n), options[0], args.device, float(options[1])) if kind == "this" else run_today(int(n), int(options[0]))
        )
        print(json.dumps(result))
        return

    rates = matmul_rate(args.device)
    cases = {} if args.fresh or not CASES.exists() else json.loads(CASES.read_text())
    rows = {}
    for n in args.sizes:
        fraction = args.fraction if n > args.fraction_above else 1.0
        wanted = {"this": (f"this/{n}/{args.precision}/{args.device}/{fraction}", ["this", str(n), args.precision, str(fraction)])}
        if n <= TODAY_MAX_N:
            wanted["today"] = (f"today/{n}/{args.today_draws}", ["today", str(n), str(args.today_draws)])
        for engine, (key, case) in wanted.items():
            if key not in cases:
                print(f"n = {n:,}: {engine} ...", flush=True)
                cases[key] = _case(case)
                CASES.write_text(json.dumps(cases, indent=1) + "\n")  # each case kept as soon as it is measured
        rows[n] = {engine: cases[key] for engine, (key, _) in wanted.items()}
    write_table(rows, rates, args)


def layer_pair_seconds(seconds_by_n: dict[int, float]) -> tuple[float, float, float] | None:
    """(intercept, slope, seconds of the nominal layer pair): seconds per subset fitted linearly in n above rsa_paper's limit."""
    sizes = [n for n in seconds_by_n if n > 1000]
    if len(sizes) < 2:
        return None
    slope, intercept = np.polyfit(sizes, [seconds_by_n[n] for n in sizes], 1)
    return intercept, slope, sum(intercept + slope * n for n in NOMINAL_SUBSETS.values())


def grid_projection(rows: dict) -> list[str]:
    """CPU hours of the Pythia grid, from `layer_pair_seconds` of the rows measured."""
    fitted = layer_pair_seconds({n: row["this"]["seconds"] for n, row in rows.items()})
    if fitted is None:
        return ["Grid projection: needs two measured sizes above 1,000 pairs."]
    intercept, slope, per_layer_pair = fitted
    subsets = ", ".join(f"{name} {n:,}" for name, n in NOMINAL_SUBSETS.items())
    return [
        f"Pythia grid projection ({GRID_LAYER_PAIRS} layer pairs; per layer pair the subsets {subsets} pairs, an assumed "
        f"nominal layer pair; seconds per subset = {intercept:.0f} + {slope * 1000:.1f} per 1,000 pairs, fitted to the rows above): "
        f"{per_layer_pair / 60:.0f} min per layer pair, {GRID_LAYER_PAIRS * per_layer_pair / 3600:.0f} CPU hours on this machine. "
        "GPU minutes: not measured (no GPU machine was lent to this session)."
    ]


def write_table(rows: dict, rates: dict, args) -> None:
    largest = max((n for n in rows if "today" in rows[n]), default=None)
    threads = torch.get_num_threads()
    lines = [
        f"One subset with the paper's settings (1,000 row-shuffle + 1,000 group permutations, 200 size-matched draws, "
        f"200 interval subsamples, 7 metrics), d_A = {D_A} vs d_B = {D_B}, n/4 groups of Zipf-like sizes; "
        f"{args.precision} products on {args.device} ({threads} CPU threads). "
        f"Measured matmul rate: {rates['float32'] / 1e9:.0f} GFLOP/s float32, {rates['float64'] / 1e9:.0f} GFLOP/s float64.",
        "",
        "| n | groups | this engine (s) | peak (GiB) | today's engine (s) | today's peak (GiB) | speed-up | product FLOPs | floor (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, row in rows.items():
        this = row["this"]
        flops = gemm_flops(n, this["groups"], PAPER)
        if "today" in row:
            today, today_peak = row["today"]["seconds"], f"{row['today']['peak_gib']:.1f}"
        else:  # extrapolated by n^2 (its cost per permutation and its matrices grow as n^2)
            today, today_peak = rows[largest]["today"]["seconds"] * (n / largest) ** 2, "does not fit"
        scaled = "" if this["fraction"] == 1 else f" ({this['fraction']:g} of the draws, scaled)"
        lines.append(f"| {n:,} | {this['groups']:,} | {this['seconds']:.0f}{scaled} | {this['peak_gib']:.1f} | {today:,.0f}{'' if 'today' in row else ' (n^2 extrapolation)'} "
                     f"| {today_peak} | {today / this['seconds']:,.0f}x | {flops:.2e} | {flops / rates[args.precision]:.0f} |")  # fmt: skip
    lines += [
        *(["", f"Conditions: {args.conditions}"] if args.conditions else []),
        "",
        *grid_projection(rows),
        "",
        "Observed scores (this engine): "
        + "; ".join(
            f"n = {n:,}: " + ", ".join(f"{m} {v:.4f}" for m, v in row["this"]["scores"].items() if v is not None) for n, row in rows.items()
        ),
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
