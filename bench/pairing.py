"""Benchmark: exact sparse pairing against the dense chunked z-score matmul, at paper scale.

Synthetic SAE codes: F features per side, L0 active features per token drawn from log-normal
feature densities (a few features fire on ~10% of tokens, most on ~0.1%), exponential
magnitudes. Every case runs in its own process so that its peak resident memory is its own.
The dense reference is timed on the first `--dense-blocks` blocks of 2,048 B features and
scaled to all F_B features (its cost is linear in the number of blocks); its partners are
checked against the sparse ones on those features.

    python bench/pairing.py                      # 30k and 300k tokens, writes bench/results/pairing.md
    python bench/pairing.py --tokens 30000 --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from universality.pairing.correlation import pair_dense, pair_sparse

DENSE_BLOCK = 2048
RESULTS = Path(__file__).parent / "results" / "pairing.md"


def synthetic_codes(n_tokens: int, n_features: int, l0: int, seed: int) -> sp.csr_matrix:
    """Sparse non-negative codes with log-normal feature densities (duplicates merged, so L0 <= l0)."""
    rng = np.random.default_rng(seed)
    density = 10 ** rng.normal(-3.0, 0.7, size=n_features)
    cdf = np.cumsum(density / density.sum())
    features = np.minimum(np.searchsorted(cdf, rng.random((n_tokens, l0))), n_features - 1)
    values = rng.exponential(1.0, size=features.shape).astype(np.float32) + 0.05
    indptr = np.arange(0, n_tokens * l0 + 1, l0)
    codes = sp.csr_matrix((values.ravel(), features.ravel(), indptr), shape=(n_tokens, n_features))
    codes.sum_duplicates()
    return codes


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_case(args) -> dict:
    """One measurement in this process; prints a JSON record."""
    codes_a = synthetic_codes(args.tokens, args.features, args.l0, seed=1)
    codes_b = synthetic_codes(args.tokens, args.features, args.l0, seed=2)
    record = {
        "case": args.case,
        "tokens": args.tokens,
        "features": args.features,
        "l0_a": codes_a.nnz / args.tokens,
        "l0_b": codes_b.nnz / args.tokens,
        "coactivations": int(np.diff(codes_a.indptr) @ np.diff(codes_b.indptr)),
        "rss_inputs_gib": peak_rss_gib(),
    }
    if args.case == "sparse":
        started = time.perf_counter()
        result = pair_sparse(codes_a, codes_b, chunk_size=args.chunk_size)
        record["seconds"] = time.perf_counter() - started
    else:
        n_b = min(args.dense_blocks * DENSE_BLOCK, args.features)
        started = time.perf_counter()
        result = pair_dense(codes_a, codes_b[:, :n_b], chunk_size=DENSE_BLOCK, token_chunk=4096, device=args.device)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        measured = time.perf_counter() - started
        record |= {"measured_seconds": measured, "measured_b_features": n_b, "seconds": measured * args.features / n_b}
        if args.device.startswith("cuda"):
            record["gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    record["peak_rss_gib"] = peak_rss_gib()
    pairs = result.pairs
    columns = {"b_features": "b_feature", "partners": "a_partner", "r": "r", "r_second": "r_second"}
    return record | {name: pairs[column].tolist() for name, column in columns.items()}


def spawn(case: str, tokens: int, args) -> dict:
    command = [sys.executable, __file__, "--case", case, "--tokens", str(tokens), "--features", str(args.features),
               "--l0", str(args.l0), "--dense-blocks", str(args.dense_blocks), "--device", args.device,
               "--chunk-size", str(args.chunk_size)]  # fmt: skip
    print(f"running {case} at {tokens:,} tokens", file=sys.stderr, flush=True)
    completed = subprocess.run(command, stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(completed.stdout)


def agreement(sparse: dict, dense: dict) -> tuple[float, float, float]:
    """Over the B features the dense run covered: share of identical partners, largest |r difference|,
    and the largest gap between the best and runner-up r (exact, sparse) where the partners differ."""
    rows = np.searchsorted(sparse["b_features"], dense["b_features"])
    differ = np.asarray(sparse["partners"])[rows] != np.asarray(dense["partners"])
    diff = np.max(np.abs(np.asarray(sparse["r"])[rows] - np.asarray(dense["r"])))
    gaps = (np.asarray(sparse["r"]) - np.asarray(sparse["r_second"]))[rows][differ]
    return float(1 - differ.mean()), float(diff), float(gaps.max()) if len(gaps) else 0.0


def report(rows: list[tuple[dict, dict]], args) -> str:
    lines = [
        f"F_A = F_B = {args.features:,}, L0 = {args.l0}; CPU: {torch.get_num_threads()} threads; dense reference on {args.device}",
        "",
        "| tokens | co-activations | sparse s | sparse peak GiB | dense s (measured on B features) | dense peak GiB | speed-up "
        "| same partners | max abs dr | largest top-2 gap where partners differ |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sparse, dense in rows:
        same, diff, gap = agreement(sparse, dense)
        lines.append(
            f"| {sparse['tokens']:,} | {sparse['coactivations']:.3g} | {sparse['seconds']:.1f} | {sparse['peak_rss_gib']:.2f} "
            f"| {dense['seconds']:.0f} ({dense['measured_seconds']:.0f} s on {dense['measured_b_features']:,}) "
            f"| {dense['peak_rss_gib']:.2f} | {dense['seconds'] / sparse['seconds']:.0f}x | {same:.4%} | {diff:.1e} | {gap:.1e} |"
        )
    flops = 2 * args.features**2
    lines += [
        "",
        f"Dense work: {flops:.3g} FLOPs per token; sparse work: one multiply-add per co-activation and direction.",
        "The dense reference computes in float32; the last column is the exact gap between the best and the",
        "runner-up correlation of the B features for which it picks another partner than the exact method.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[30_000, 300_000])
    parser.add_argument("--features", type=int, default=32_768)
    parser.add_argument("--l0", type=int, default=64)
    parser.add_argument("--dense-blocks", type=int, default=2, help="B-feature blocks of 2,048 the dense reference is timed on")
    parser.add_argument("--chunk-size", type=int, default=1024, help="query features per sparse block")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--case", choices=["sparse", "dense"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        args.tokens = args.tokens[0]
        print(json.dumps(run_case(args)))
        return
    rows = [(spawn("sparse", tokens, args), spawn("dense", tokens, args)) for tokens in args.tokens]
    table = report(rows, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
