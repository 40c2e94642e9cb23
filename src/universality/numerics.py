"""One numerical code path on every x86-64 CPU: what makes a stage's bytes independent of the machine.

torch (ATen, MKL, oneDNN) and numpy (its SIMD loops, OpenBLAS) each pick kernels for the CPU
they find: AVX-512 on one machine, AVX2 on another, and as many threads as there are cores.
Those kernels sum in different orders, so the same seeds train different toy models on two
CPUs and the same caches give scores that differ in the last bits
(`bench/training_determinism.py` measures which settings change the bytes). Every stage
therefore runs on the baseline x86-64 kernels, which every such CPU has, with one thread.
The settings are environment variables read when the libraries load, so `pin()` runs before
numpy or torch is imported (`python -m universality` calls it first); they override whatever
the caller's environment says. CUDA kernels are not covered: results computed on a GPU
depend on the GPU.
"""

from __future__ import annotations

import os
import sys

PINNED = {
    "ATEN_CPU_CAPABILITY": "default",  # ATen's kernels compiled without AVX2/AVX-512 dispatch
    "MKL_CBWR": "COMPATIBLE",  # MKL's conditional numerical reproducibility: the code path every x86-64 CPU runs
    "ONEDNN_MAX_CPU_ISA": "SSE41",  # oneDNN (torch's mkldnn) at the oldest instruction set it dispatches
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",  # numpy 2.4's loops at its x86-64-v2 baseline
    "OPENBLAS_CORETYPE": "Prescott",  # numpy's OpenBLAS on its generic SSE3 kernels
    "OMP_NUM_THREADS": "1",  # one thread: reductions split across threads sum in another order
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
NUMERICAL_LIBRARIES = ("numpy", "torch", "scipy")


def pin() -> None:
    """Set `PINNED` in this process's environment; numpy, scipy and torch must not be loaded yet."""
    loaded = [name for name in NUMERICAL_LIBRARIES if name in sys.modules]
    if loaded:
        raise RuntimeError(f"universality.numerics.pin() must run before {', '.join(loaded)} is imported: its kernels are already chosen")
    os.environ.update(PINNED)


def in_effect() -> dict[str, object]:
    """What the loaded libraries report: the kernel width and threads torch runs with, and the pinned variables."""
    import torch

    return {
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "pinned": all(os.environ.get(key) == value for key, value in PINNED.items()),
    }
