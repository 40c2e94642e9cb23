"""One numerical code path on every x86-64 CPU: what makes a stage's bytes independent of the machine.

torch (ATen, MKL, oneDNN) and numpy (its SIMD loops, OpenBLAS) each pick kernels for the CPU
they find: AVX-512 on one machine, AVX2 on another, and as many threads as there are cores.
Those kernels sum in different orders, so the same caches give scores that differ in the last
bits on two CPUs (`bench/training_determinism.py` measures which settings change the bytes).
The stages that read caches (extraction, pairing, scoring, rendering) therefore run on the
baseline x86-64 kernels, which every such CPU has, with one thread: cheap for them, and their
bytes then depend on their inputs only. The training stages (`TRAINING_STAGES`) run on the
machine's own kernels and every core: pinned, training took twice as long and still gave
other models on another CPU (an Intel Xeon trained other models than an AMD EPYC from the same
seeds), so the pins bought nothing there. On one machine training is repeatable (the same
bytes again, and with one thread or two). The settings are environment variables read when
the libraries load, so `pin()` runs before numpy or torch is imported (`python -m universality`
calls it first); they override whatever the caller's environment says. CUDA kernels are not
covered: results computed on a GPU depend on the GPU.
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
TRAINING_STAGES = ("model", "saes")  # on the machine's kernels and every core
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pin(stage: str | None = None) -> None:
    """Set the kernels of `stage` in this process's environment; numpy, scipy and torch must not be loaded yet.

    A training stage gets the machine's kernels with a thread per available core; any other
    stage (or none named) gets `PINNED`.
    """
    loaded = [name for name in NUMERICAL_LIBRARIES if name in sys.modules]
    if loaded:
        raise RuntimeError(f"universality.numerics.pin() must run before {', '.join(loaded)} is imported: its kernels are already chosen")
    if stage in TRAINING_STAGES:
        for key in PINNED:
            os.environ.pop(key, None)
        os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(len(os.sched_getaffinity(0)))))
    else:
        os.environ.update(PINNED)


def in_effect() -> dict[str, object]:
    """What the loaded libraries report: the kernel width and threads torch runs with, whether torch is held to its
    deterministic kernels, and the pinned variables."""
    import torch

    return {
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "pinned": all(os.environ.get(key) == value for key, value in PINNED.items()),
    }
