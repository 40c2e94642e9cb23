"""Benchmark: 1,000 SVCCA row-shuffle permutations at n = 8,000, d = 512 vs 768.

The fast path (`PermutedScores`: one SVD per side, one cross product per permutation, batched)
against recomputing SVCCA from scratch on each permuted pair (two SVDs per permutation), timed
on `--reference-permutations` permutations and scaled. Both GEMM precisions are timed; the
float32 scores are compared with the float64 ones.

    python bench/nulls.py            # writes bench/results/nulls.md
    python bench/nulls.py --device cuda
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from universality.similarity.permutations import PermutedScores
from universality.similarity.metrics import svcca

RESULTS = Path(__file__).parent / "results" / "nulls.md"


def decoder_rows(n: int, d_a: int, d_b: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired rows: B's rows are a noisy linear image of A's, both with decaying spectra."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d_a)) * np.geomspace(1.0, 0.1, d_a)
    Y = X @ rng.standard_normal((d_a, d_b)) / np.sqrt(d_a) + 0.3 * rng.standard_normal((n, d_b))
    return X, Y


def fast_null(X, Y, permutations, batch: int, device: str, dtype: torch.dtype) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    scorer = PermutedScores(X, Y, 0.99, metrics=["svcca"], device=device, gemm_dtype=dtype)
    scores = np.concatenate([scorer.scores(permutations[i : i + batch])["svcca"] for i in range(0, len(permutations), batch)])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return scores, time.perf_counter() - started


def matmul_rate(device: str, size: int = 2048, repeats: int = 5) -> float:
    """Measured float32 FLOP/s of a square matmul on `device`."""
    a = torch.randn(size, size, device=device)
    a @ a
    started = time.perf_counter()
    for _ in range(repeats):
        a @ a
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--d-a", type=int, default=512)
    parser.add_argument("--d-b", type=int, default=768)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reference-permutations", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    X, Y = decoder_rows(args.n, args.d_a, args.d_b, seed=0)
    permutations = np.stack([np.random.default_rng([1, i]).permutation(args.n) for i in range(args.permutations)])
    exact, seconds64 = fast_null(X, Y, permutations, args.batch, args.device, torch.float64)
    single, seconds32 = fast_null(X, Y, permutations, args.batch, args.device, torch.float32)

    started = time.perf_counter()
    reference = [svcca(X, Y[p], 0.99).score for p in permutations[: args.reference_permutations]]
    reference_seconds = (time.perf_counter() - started) * args.permutations / args.reference_permutations
    agreement = np.max(np.abs(np.asarray(reference) - exact[: args.reference_permutations]))

    observed = svcca(X, Y, 0.99)
    flops, peak = 2 * args.n * observed.k_x * observed.k_y, matmul_rate(args.device)
    lines = [
        f"n = {args.n:,}, d_A = {args.d_a}, d_B = {args.d_b} (k_A = {observed.k_x}, k_B = {observed.k_y}), "
        f"{args.permutations:,} SVCCA permutations on {args.device} ({torch.get_num_threads()} CPU threads)",
        "",
        "| method | seconds | speed-up vs recomputing |",
        "|---|---:|---:|",
        f"| recompute from scratch (timed on {args.reference_permutations}, scaled) | {reference_seconds:.0f} | 1x |",
        f"| one SVD per side, float64 cross products | {seconds64:.1f} | {reference_seconds / seconds64:.0f}x |",
        f"| one SVD per side, float32 cross products | {seconds32:.1f} | {reference_seconds / seconds32:.0f}x |",
        "",
        f"max |fast float64 - recomputed| = {agreement:.1e}; max |float32 - float64| = {np.max(np.abs(single - exact)):.1e}",
        f"Work floor: the k_A x n x k_B product per permutation, {flops:.2e} FLOPs; at this machine's measured "
        f"float32 matmul rate ({peak / 1e9:.0f} GFLOP/s) {args.permutations:,} take {args.permutations * flops / peak:.1f} s.",
    ]
    table = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
