"""Pinned kernels: the thread count and the math libraries' CPU paths change results, and pinning removes both."""

import ast
import os
import subprocess
import sys

import numpy  # noqa: F401  (loaded, so that pin() must refuse in this process)
import pytest

from universality import numerics

# a parallel reduction, a BLAS matrix product and numpy's vectorised exp, each hashed
PROBE = """
import hashlib, sys
if sys.argv[1] != "native":
    from universality import numerics
    numerics.pin(None if sys.argv[1] == "pinned" else sys.argv[1])
import numpy as np, torch
from universality import numerics
generator = torch.Generator().manual_seed(0)
x = torch.rand(1_000_003, generator=generator)
a, b = torch.randn(257, 513, generator=generator), torch.randn(513, 129, generator=generator)
y = np.random.default_rng(0).random(100_003).astype(np.float32)
results = {"sum": x.sum().numpy(), "matmul": (a @ b).numpy(), "numpy_exp": np.exp(y)}
print(" ".join(f"{name}:{hashlib.sha256(value.tobytes()).hexdigest()[:16]}" for name, value in results.items()))
print(numerics.in_effect())
"""


def probe(mode: str, **env: str) -> tuple[dict[str, str], str]:
    """Hashes of the probe's results, and what the libraries report, in a fresh process with `env`."""
    clean = {key: value for key, value in os.environ.items() if key not in numerics.PINNED}
    result = subprocess.run([sys.executable, "-c", PROBE, mode], env=clean | env, capture_output=True, text=True, check=True)
    hashes, effect = result.stdout.splitlines()
    return dict(item.split(":") for item in hashes.split()), effect


def test_native_results_depend_on_the_thread_count_and_the_blas_path():
    one, two = probe("native", OMP_NUM_THREADS="1")[0], probe("native", OMP_NUM_THREADS="2")[0]
    assert one["sum"] != two["sum"]  # the reduction is split across threads
    compatible, avx2 = probe("native", MKL_CBWR="COMPATIBLE")[0], probe("native", MKL_CBWR="AVX2")[0]
    assert compatible["matmul"] != avx2["matmul"]  # MKL's kernels for another CPU
    assert (
        probe("native")[0]["numpy_exp"]
        != probe("native", NPY_DISABLE_CPU_FEATURES=numerics.PINNED["NPY_DISABLE_CPU_FEATURES"])[0]["numpy_exp"]
    )


@pytest.mark.parametrize(
    "env",
    [{"OMP_NUM_THREADS": "2"}, {"OMP_NUM_THREADS": "1", "MKL_CBWR": "AVX2"}, {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}],
)
def test_pinned_results_are_the_same_whatever_the_environment_says(env):
    hashes, effect = probe("pinned", **env)
    assert hashes == probe("pinned")[0]
    assert ast.literal_eval(effect) == {
        "aten_cpu_capability": "DEFAULT",
        "torch_threads": 1,
        "deterministic_algorithms": False,
        "pinned": True,
    }


def test_pinning_after_numpy_is_loaded_is_refused():
    before = dict(os.environ)
    with pytest.raises(RuntimeError, match=r"must run before numpy"):
        numerics.pin()  # pytest has loaded numpy: its kernels are chosen
    assert dict(os.environ) == before


@pytest.mark.parametrize("stage", numerics.TRAINING_STAGES)
def test_training_stages_run_on_the_machine_kernels_and_every_core_even_from_a_pinned_environment(stage):
    (native, native_effect), (hashes, effect) = probe("native"), probe(stage, **numerics.PINNED)
    assert hashes["matmul"] == native["matmul"]
    assert ast.literal_eval(effect) == ast.literal_eval(native_effect) | {"torch_threads": len(os.sched_getaffinity(0)), "pinned": False}
