"""Benchmark: one comparison's scoring grid under `serial` and under `ray` with 2 workers; the Pythia grid on N workers.

The grid is the appendix_buckets stage's work on the default experiment's `main` comparison:
every multiplicity bucket of every layer pair, scored with params.yaml's nulls, one unit per
layer pair (nothing taken from the main stage's scores). It reads the built workspace (`make
paper`, or `dvc pull`) and writes nothing there. Each executor runs in a process of its own,
`--repeats` times:

- `serial`: the stage's default, a loop in its process;
- `ray`: a local Ray instance with `--workers` CPUs (Ray's start-up is timed apart), the same
  units; its results must equal the serial ones, byte for byte, or the benchmark stops;
- the floor: the measured units on `--workers` workers without any overhead (longest first).

The Pythia grid (72 layer pairs, `bench/scoring.py`'s nominal layer pair and its fitted
seconds from `bench/results/scoring.json`) is projected on N workers of that speed: the
longest worker's share of 72 layer-pair units, divided by the share of the floor Ray reached
here.

    python bench/grid.py                 # writes bench/results/grid.md
    python bench/grid.py --repeats 1 --workers 2
    python bench/grid.py --report        # the table again from bench/results/grid.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "grid.md"
CASES = RESULTS.with_suffix(".json")  # every run measured, so that `--report` rewrites the table without measuring
COMPARISON = "main"
PYTHIA_WORKERS = (1, 2, 8, 24, 72, 144)


def grid_units(params):
    """The appendix grid's units: (key, function, arguments) per layer pair of the comparison."""
    from universality.executors import Unit
    from universality.layer_pairs import score_unit
    from universality.pairing.subsets import cumulative_buckets, range_buckets

    subsets = params.subsets

    def buckets(kept, _edges):
        return cumulative_buckets(kept, subsets.cumulative) + range_buckets(kept, subsets.ranges)

    return [Unit((a, b), score_unit, (params, COMPARISON, a, b, buckets, {})) for a, b in params.layer_pairs(COMPARISON)]


def digest(results: dict) -> str:
    """sha256 of the units' records and null scores, as the stage would write them."""
    from universality import io

    blob = hashlib.sha256()
    for key, (records, nulls) in results.items():
        blob.update(io.dumps_json({"key": key, "records": records}).encode())
        for table in nulls:
            blob.update(table.to_csv(index=False).encode())
    return blob.hexdigest()


def timed(function, arguments: tuple) -> tuple[float, object]:
    """A unit's seconds where it ran, and its result."""
    started = time.perf_counter()
    result = function(*arguments)
    return time.perf_counter() - started, result


def run_case(executor: str, workers: int) -> dict:
    """One run of the grid in this process under `executor`."""
    from universality import executors
    from universality.params import load_params

    units = [executors.Unit(unit.key, timed, (unit.function, unit.arguments)) for unit in grid_units(load_params("params.yaml"))]
    os.environ[executors.EXECUTOR_VARIABLE] = executor
    case = {"executor": executor, "units": len(units)}
    if executor == "ray":
        import ray

        started = time.perf_counter()
        ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
        case |= {"startup": time.perf_counter() - started, "workers": workers}
    started = time.perf_counter()
    results = executors.run_units(units, f"grid of {COMPARISON}")
    case["seconds"] = time.perf_counter() - started
    case["unit_seconds"] = {str(key): seconds for key, (seconds, _) in results.items()}
    case["digest"] = digest({key: result for key, (_, result) in results.items()})
    return case


def floor(unit_seconds: list[float], workers: int) -> float:
    """Longest-first list schedule of the units on `workers` workers, no overhead: the wall time no executor beats by much."""
    loads = [0.0] * workers
    for seconds in sorted(unit_seconds, reverse=True):
        loads[loads.index(min(loads))] += seconds
    return max(loads)


def pythia_layer_pair_seconds() -> float:
    """The nominal Pythia layer pair's seconds, fitted by bench/scoring.py to its measured cases."""
    sys.path.insert(0, str(Path(__file__).parent))
    import scoring

    cases = json.loads(scoring.CASES.read_text())
    measured = {
        int(key.split("/")[1]): case["seconds"] for key, case in cases.items() if key.startswith("this/") and "/float32/cpu/" in key
    }
    return scoring.layer_pair_seconds(measured)[2]


def report(serial: list[dict], ray: list[dict], workers: int, conditions: str) -> list[str]:
    serial_s, ray_s = statistics.median(c["seconds"] for c in serial), statistics.median(c["seconds"] for c in ray)
    units = list(serial[0]["unit_seconds"].values())  # each unit's seconds in the first serial loop
    ideal = floor(units, workers)
    overhead = ideal / ray_s  # what Ray keeps of the floor: its scheduling, transfers and start-up of workers
    lines = [
        f"The appendix grid of comparison `{COMPARISON}` (params.yaml's buckets and nulls): {serial[0]['units']} units (layer pairs), "
        f"{os.cpu_count()} CPUs; the stages' pinned kernels (`numerics`), one thread per process, in the serial process and on every Ray worker. "
        f"Median of {len(serial)} runs each; every run's results had the same sha256 ({serial[0]['digest'][:16]}).",
        "",
        "| executor | wall (s) | runs (s) | speed-up vs serial |",
        "|---|---:|---:|---:|",
        f"| serial (default) | {serial_s:.1f} | {_runs(serial)} | 1.00x |",
        f"| ray, {workers} workers | {ray_s:.1f} | {_runs(ray)} | {serial_s / ray_s:.2f}x |",
        f"| floor: the units on {workers} workers, longest first, no overhead | {ideal:.1f} | | {serial_s / ideal:.2f}x |",
        "",
        f"Ray's start-up (ray.init of a local instance), not in the wall times: {statistics.median(c['startup'] for c in ray):.1f} s. "
        f"Units alone (s): {', '.join(f'{k} {v:.1f}' for k, v in serial[0]['unit_seconds'].items())}; sum {sum(units):.1f} s. "
        f"Ray reaches {overhead:.2f} of the floor (floor / wall); the floor itself falls short of {workers}x only where the units' sizes do not split evenly.",
    ]
    if conditions:
        lines += ["", f"Conditions: {conditions}"]
    per_pair = pythia_layer_pair_seconds()
    lines += ["", f"Pythia grid projection: 72 layer-pair units of {per_pair / 60:.0f} min each (bench/scoring.py's nominal layer pair, "
              f"fitted to its cases, which ran float32 on this machine's 2 threads), scheduled on N workers of that speed, "
              f"with the share of the floor measured above ({overhead:.2f}):", "",
              "| workers | wall (h) | worker hours |", "|---:|---:|---:|"]  # fmt: skip
    for n in PYTHIA_WORKERS:
        wall = math.ceil(72 / n) * per_pair / overhead
        lines.append(f"| {n} | {wall / 3600:.1f} | {n * wall / 3600:.0f} |")
    lines += ["", "Past 72 workers the wall time stops falling: a layer pair is the unit of the scoring stages."]
    return lines


def _runs(cases: list[dict]) -> str:
    return ", ".join(f"{case['seconds']:.1f}" for case in cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--conditions", default="", help="how the cases were measured (commit, what else ran), printed under the table")
    parser.add_argument(
        "--report", action="store_true", help="rewrite bench/results/grid.md from bench/results/grid.json, measuring nothing"
    )
    parser.add_argument("--case", choices=["serial", "ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        from universality import numerics

        numerics.pin()  # the kernels and single thread every stage runs with (`python -m universality` pins them too)
        print(json.dumps(run_case(args.case, args.workers)))
        return
    if args.report:
        cases = json.loads(CASES.read_text())
    else:
        cases = {"serial": [], "ray": []}
        for repeat in range(args.repeats):
            for executor in cases:
                print(f"run {repeat + 1} of {args.repeats}: {executor} ...", flush=True)
                output = subprocess.run([sys.executable, __file__, "--case", executor, "--workers", str(args.workers)], check=True,
                                        capture_output=True, text=True).stdout  # fmt: skip
                cases[executor].append(json.loads(output.strip().splitlines()[-1]))
        cases["conditions"] = args.conditions
        RESULTS.parent.mkdir(exist_ok=True)
        CASES.write_text(json.dumps(cases, indent=1) + "\n")
    digests = {case["digest"] for executor in ("serial", "ray") for case in cases[executor]}
    if len(digests) != 1:
        sys.exit(f"the executors' results differ: {sorted(digests)}")
    lines = report(cases["serial"], cases["ray"], cases["ray"][0]["workers"], cases["conditions"])
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
