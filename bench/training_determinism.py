"""Benchmark: which CPU settings change the bytes of a trained toy model and its SAEs.

Trains `toy_a` (shortened) and its SAEs in a scratch copy of the project, once per setting,
each in its own process with the setting in its environment, and hashes what training
wrote. A setting that changes the hash on this machine is one that can make two machines
train different models from the same seeds: a math library that takes another kernel path
on another CPU (MKL picks AVX-512 kernels on Intel and AVX2 on AMD; ATen picks its own
vector width), or another thread count. The first rows run the stages on the kernels the
machine offers, as the pipeline runs its training stages; the last rows pin the baseline
kernels and one thread (`universality.numerics.pin()`, as the pipeline runs its analysis
stages), under the same settings. Writes bench/results/training_determinism.md.

    python bench/training_determinism.py            # every setting, about 10 minutes on 2 cores
    python bench/training_determinism.py --steps 30 --sae-tokens 50000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "training_determinism.md"

# name -> environment variables set for that run
SETTINGS = {
    "machine's kernels, 2 threads": {},
    "again (repeatability)": {},
    "one thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "MKL_CBWR=AVX2": {"MKL_CBWR": "AVX2"},
    "MKL_CBWR=AVX512": {"MKL_CBWR": "AVX512"},
    "MKL_CBWR=COMPATIBLE": {"MKL_CBWR": "COMPATIBLE"},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ATEN_CPU_CAPABILITY=default": {"ATEN_CPU_CAPABILITY": "default"},
}
# the same settings, pinned (as the pipeline runs its analysis stages; its training stages run on the machine's kernels)
PINNED_SETTINGS = {
    "pinned": {},
    "pinned, again": {},
    "pinned, OMP_NUM_THREADS=2": {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
    "pinned, ATEN_CPU_CAPABILITY=avx2, MKL_CBWR=AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
}
NATIVE = ["-c", "import sys; from universality.cli import main; main(sys.argv[1:])"]  # the CLI without `numerics.pin()`
PINNED_ENTRY = [
    "-c",
    "import sys; from universality import numerics; numerics.pin(); from universality.cli import main; main(sys.argv[1:])",
]


def tree_digest(*folders: Path) -> str:
    """sha256 over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(folder.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def scratch_project(steps: int, sae_tokens: int) -> Path:
    """A copy of the tracked project whose toy_a model and SAEs train for a short while."""
    root = Path(tempfile.mkdtemp(prefix="determinism-"))
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"]["toy_a"]["training"] = params["models"]["toy_a"]["training"] | {"max_steps": steps, "warmup_steps": steps // 4}
    params["sources"]["toy_a"]["sae"]["training"] = params["sources"]["toy_a"]["sae"]["training"] | {"training_tokens": sae_tokens}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def stage(root: Path, env: dict, pinned: bool, *args: str) -> None:
    entry = PINNED_ENTRY if pinned else NATIVE
    subprocess.run([sys.executable, *entry, *args], cwd=root, env=os.environ | env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="language-model steps (default 100)")
    parser.add_argument("--sae-tokens", type=int, default=100_000, help="SAE training tokens (default 100,000)")
    args = parser.parse_args()
    root = scratch_project(args.steps, args.sae_tokens)
    stage(root, {}, True, "tokens", "wordnet")
    rows = []
    runs = [(name, env, False) for name, env in SETTINGS.items()] + [(name, env, True) for name, env in PINNED_SETTINGS.items()]
    for name, env, pinned in runs:
        start = time.perf_counter()
        stage(root, env, pinned, "model", "toy_a")
        model_done = time.perf_counter()
        stage(root, env, pinned, "saes", "toy_a")
        loss = json.loads((root / "results/models/toy_a.json").read_text())["loss"]
        rows.append((name, tree_digest(root / "data/models/toy_a"), tree_digest(root / "data/toy_a/saes"), loss,
                     model_done - start, time.perf_counter() - model_done))  # fmt: skip
        print(
            f"{name}: model {rows[-1][1][:12]} SAEs {rows[-1][2][:12]} loss {loss:.9f} ({rows[-1][4]:.0f} s + {rows[-1][5]:.0f} s)",
            flush=True,
        )
    shutil.rmtree(root)
    reference = rows[0]
    lines = [
        "# Which CPU settings change the bytes of a trained model",
        "",
        f"`python bench/training_determinism.py --steps {args.steps} --sae-tokens {args.sae_tokens}`: toy_a trained for "
        f"{args.steps} steps and its two SAEs on {args.sae_tokens:,} tokens each, once per setting, each in its own process.",
        f"CPU: {platform.processor() or platform.machine()} ({cpu_name()}), {os.cpu_count()} cores; torch {torch.__version__}, "
        f"ATen vector width {torch.backends.cpu.get_cpu_capability()}, MKL {'present' if torch.backends.mkl.is_available() else 'absent'}.",
        "",
        "Same model / SAEs: the same bytes as the first row of its group (the machine's kernels, or pinned).",
        "",
        "| setting | model sha256 | SAEs sha256 | same model | same SAEs | held-out loss | loss - first row | model s | SAEs s |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    pinned_reference = rows[len(SETTINGS)]
    for index, (name, model, saes, loss, model_s, saes_s) in enumerate(rows):
        group = reference if index < len(SETTINGS) else pinned_reference
        lines.append(f"| {name} | `{model[:12]}` | `{saes[:12]}` | {'yes' if model == group[1] else 'no'} | "
                     f"{'yes' if saes == group[2] else 'no'} | {loss:.9f} | {loss - reference[3]:+.1e} | {model_s:.0f} | {saes_s:.0f} |")  # fmt: skip
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
