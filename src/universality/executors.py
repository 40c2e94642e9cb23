"""Where a stage's independent units run: in the stage's own process (`serial`), in a process per core (`processes`) or on Ray (`ray`).

A stage that fans out (extract, pair, main_one_to_one, appendix_buckets, collapse) describes
its work as `Unit`s: a stable key (e.g. the layer pair), a module-level function and its
arguments. Large inputs travel as paths the function reads; results come back as values and
are returned by key, in sorted key order, for the stage to write into its output set (which is
written whole, see `io.atomic_directory`). A unit's randomness is seeded from the params' seed
and its key (`generator`), never from a worker or the order units ran in, so both executors,
in any order and after any retry, give the same bytes.

The executor is chosen by the environment, not params.yaml, because it must not change
outputs or DVC's view of them:

- `UNIVERSALITY_EXECUTOR`: `serial` (the default: a plain loop; nothing is imported, started or
  listening), `processes` (a pool of worker processes on this machine, one per available core
  and at most one per unit, each on the stage's pinned kernels; `make paper` uses it) or `ray`
  (Ray Core, the package's optional extra `ray`);
- `RAY_ADDRESS`: an existing Ray cluster to join; unset, `ray` starts one on this machine with
  a worker per core (and a GPU slot per visible GPU);
- `UNIVERSALITY_SUBMISSION_SEED`: under `ray`, submit the units in an order shuffled with this
  seed, to check that nothing depends on the order.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from universality import numerics
from universality.errors import InputError

log = logging.getLogger(__name__)

EXECUTOR_VARIABLE = "UNIVERSALITY_EXECUTOR"
SUBMISSION_SEED_VARIABLE = "UNIVERSALITY_SUBMISSION_SEED"
EXECUTORS = ("serial", "processes", "ray")
RETRIES = 3  # a unit whose worker died (killed, out of memory, node lost) runs again, up to this many times

Key = tuple[int, ...]


@dataclass(frozen=True)
class Unit:
    """One independent piece of a stage: `function(*arguments)`, named by `key`.

    `gpus` is what the unit asks of a Ray cluster that has GPUs (one for an extraction chunk);
    on a cluster without GPUs, and under `serial`, the unit runs on what `auto` resolves to.
    """

    key: Key
    function: Callable[..., Any]
    arguments: tuple = ()
    gpus: int = 0
    label: str = field(default="", compare=False)


def generator(seed: int, key: Key) -> np.random.Generator:
    """The unit's own random generator: a function of the seed and the unit's key only."""
    return np.random.default_rng([seed, *key])


def chosen() -> str:
    """The executor the environment asks for (`serial` unless UNIVERSALITY_EXECUTOR says otherwise)."""
    choice = os.environ.get(EXECUTOR_VARIABLE, "serial").strip() or "serial"
    if choice not in EXECUTORS:
        raise InputError(
            f"environment variable {EXECUTOR_VARIABLE}={choice!r} is not an executor; set it to one of {', '.join(EXECUTORS)} (or unset it)"
        )
    return choice


def run_units(units: Sequence[Unit], what: str) -> dict[Key, Any]:
    """Every unit's result by key, in sorted key order, from the executor the environment chose."""
    keys = [unit.key for unit in units]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{what}: unit keys are not unique: {keys}")
    if not units:
        return {}
    executor = chosen()
    if executor == "ray":
        results = _ray(units, what)
    elif executor == "processes" and len(units) > 1:
        results = _processes(units, what)
    else:
        results = _serial(units, what)
    return {key: results[key] for key in sorted(results)}


def _serial(units: Sequence[Unit], what: str) -> dict[Key, Any]:
    return {unit.key: unit.function(*unit.arguments) for unit in tqdm(units, desc=what, unit="unit", disable=len(units) < 2)}


def _in_project(root: str, function: Callable[..., Any], arguments: tuple) -> Any:
    """A unit in a worker process: run from the project's folder (paths are relative to it), on the stage's kernels."""
    import torch

    if not numerics.in_effect()["pinned"]:  # the worker was started without `numerics.PINNED`: its bytes would be the CPU's
        raise RuntimeError("an executor's worker runs without universality.numerics.PINNED in its environment")
    os.chdir(root)
    if torch.cuda.is_available():  # as `cli.execute` sets for the stage's own process
        torch.use_deterministic_algorithms(True, warn_only=True)
    return function(*arguments)


def _processes(units: Sequence[Unit], what: str) -> dict[Key, Any]:
    """The units on fresh Python processes (spawned: they load only what the unit needs), which inherit the pinned
    environment that `numerics.pin` gave the stage."""
    workers = min(len(units), len(os.sched_getaffinity(0)))
    log.info("%s: %d units on %d worker processes", what, len(units), workers)
    root, results = str(Path.cwd()), {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {pool.submit(_in_project, root, unit.function, unit.arguments): unit.key for unit in units}
        for done in tqdm(as_completed(pending), total=len(pending), desc=what, unit="unit"):
            results[pending[done]] = done.result()
    return results


def _ray(units: Sequence[Unit], what: str) -> dict[Key, Any]:
    try:
        import ray
    except ImportError:
        raise InputError(
            f"{EXECUTOR_VARIABLE}=ray but Ray is not installed; install the extra (`pip install -e '.[ray]'`) or unset {EXECUTOR_VARIABLE}"
        ) from None
    if not ray.is_initialized():
        # RAY_ADDRESS unset: a new instance on this machine, never one some other process left running
        ray.init(address=os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False, logging_level=logging.WARNING)
    has_gpus = ray.cluster_resources().get("GPU", 0) > 0
    order = list(units)
    if os.environ.get(SUBMISSION_SEED_VARIABLE):
        random.Random(int(os.environ[SUBMISSION_SEED_VARIABLE])).shuffle(order)
    task = ray.remote(_in_project)
    root = str(Path.cwd())
    pending = {
        task.options(num_cpus=1, num_gpus=unit.gpus if has_gpus else 0, max_retries=RETRIES, retry_exceptions=False,
                     runtime_env={"env_vars": numerics.PINNED},  # the stage's kernels (`numerics`), whoever started the workers
                     name=f"{what} {unit.label or unit.key}").remote(root, unit.function, unit.arguments): unit.key
        for unit in order
    }  # fmt: skip
    log.info(
        "%s: %d units submitted to Ray (%s)",
        what,
        len(pending),
        ", ".join(f"{k} {v:g}" for k, v in sorted(ray.cluster_resources().items()) if k in ("CPU", "GPU")),
    )
    results = {}
    with tqdm(total=len(pending), desc=what, unit="unit") as progress:
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            try:
                results[pending[done[0]]] = ray.get(done[0])
            except ray.exceptions.RayTaskError as err:  # the unit's own error, as the serial loop would raise it
                raise err.cause from None
            progress.update()
    return results
