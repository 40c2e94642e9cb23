"""The executor seam: a stage's units give the same bytes in its own process (`serial`), in a process per core
(`processes`), on Ray, in any submission order, on a two-node cluster and after a worker died mid-unit; extraction units
get a GPU each where Ray has some."""

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray  # the `ray` extra, which make test installs
from ray.cluster_utils import Cluster
from tiny_project import copy_of, tools_env

from universality import executors, numerics
from universality.errors import InputError
from universality.executors import Unit, generator, run_units

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import this test module

pytestmark = pytest.mark.xdist_group("ray")  # one worker starts the Ray instances, one at a time

# every stage that fans out, on the tiny project's main comparison (extract on one of its sources)
FANNED_OUT = (
    ("extract", "toy_a"),
    ("pair", "main"),
    ("main_one_to_one", "main"),
    ("appendix_buckets", "main"),
    ("collapse", "main"),
    ("sensitivity", "main"),
)
OUTPUTS = {
    "extract": ["data/toy_a/activations", "results/toy_a/quality.json"],
    "pair": ["results/main/pair", "results/main/pair_metrics.json"],
    "main_one_to_one": ["results/main/main_one_to_one", "results/main/main_one_to_one_metrics.json"],
    "appendix_buckets": ["results/main/appendix_buckets"],
    "collapse": ["results/main/collapse", "results/main/collapse_metrics.json"],
    "sensitivity": ["results/main/sensitivity", "results/main/sensitivity_metrics.json"],
}


def square(x: int) -> int:
    return x * x


def slow_node(seconds: float) -> str:
    time.sleep(seconds)
    return ray.get_runtime_context().get_node_id()


def refuse(path: str) -> None:
    raise InputError(f"{path} is damaged; restore it")


def test_serial_results_come_back_by_key_in_sorted_order(monkeypatch):
    monkeypatch.delenv(executors.EXECUTOR_VARIABLE, raising=False)
    units = [Unit((key,), square, (key,)) for key in (3, 1, 2)]
    results = run_units(units, "squares")
    assert list(results) == [(1,), (2,), (3,)] and results == {(1,): 1, (2,): 4, (3,): 9}


def test_worker_processes_give_the_serial_results_by_key_and_raise_a_units_error_as_itself(monkeypatch):
    monkeypatch.setenv(executors.EXECUTOR_VARIABLE, "processes")
    units = [Unit((key,), square, (key,)) for key in (3, 1, 2)]
    with pytest.raises(RuntimeError, match=r"worker runs without universality\.numerics\.PINNED"):
        run_units(units, "squares")  # pytest's environment is not the stages' pinned one
    for variable, value in numerics.PINNED.items():
        monkeypatch.setenv(variable, value)  # what `python -m universality` sets before a stage runs
    results = run_units(units, "squares")
    assert list(results) == [(1,), (2,), (3,)] and results == {(1,): 1, (2,): 4, (3,): 9}
    with pytest.raises(InputError, match=r"^data/x is damaged; restore it$"):
        run_units([Unit((1,), refuse, ("data/x",)), Unit((2,), square, (2,))], "refusal")


def test_keys_given_twice_and_unknown_executors_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="not unique"):
        run_units([Unit((1,), square, (1,)), Unit((1,), square, (2,))], "squares")
    monkeypatch.setenv(executors.EXECUTOR_VARIABLE, "dask")
    with pytest.raises(InputError, match=r"UNIVERSALITY_EXECUTOR='dask' is not an executor; set it to one of serial, processes, ray"):
        run_units([Unit((1,), square, (1,))], "squares")


def test_ray_chosen_but_missing_is_named_with_the_extra(monkeypatch):
    monkeypatch.setenv(executors.EXECUTOR_VARIABLE, "ray")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(InputError, match=r"Ray is not installed; install the extra \(`pip install -e '.\[ray\]'`\)"):
        run_units([Unit((1,), square, (1,))], "squares")


def test_a_units_generator_depends_on_the_seed_and_its_key_only():
    first = generator(0, (1, 2)).random(5)
    np.testing.assert_array_equal(first, generator(0, (1, 2)).random(5))
    assert not np.array_equal(first, generator(0, (2, 1)).random(5)) and not np.array_equal(first, generator(1, (1, 2)).random(5))


@pytest.fixture(scope="module")
def two_nodes():
    """A local Ray cluster of two nodes, one CPU each."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def test_units_spread_over_both_nodes_and_a_units_error_is_raised_as_itself(two_nodes, monkeypatch):
    monkeypatch.setenv(executors.EXECUTOR_VARIABLE, "ray")
    monkeypatch.setenv("RAY_ADDRESS", two_nodes.address)
    try:
        nodes = run_units([Unit((key,), slow_node, (1.0,)) for key in range(4)], "nodes")
        assert len(set(nodes.values())) == 2
        with pytest.raises(InputError, match=r"^data/x is damaged; restore it$"):
            run_units([Unit((1,), refuse, ("data/x",))], "refusal")
    finally:
        ray.shutdown()


def run_stage(project: Path, stage: str, name: str, env: dict, wrapper: str = "") -> subprocess.CompletedProcess:
    """`python -m universality STAGE NAME` in `project` with `env`; `wrapper` (Python) runs first in the same process, kernels pinned."""
    code = f"from universality import numerics\nnumerics.pin()\n{wrapper}\nfrom universality.cli import main\nmain([{stage!r}, {name!r}])"
    result = subprocess.run([sys.executable, "-c", code], cwd=project, env=tools_env(env), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def outputs(project: Path, stage: str) -> dict[str, str]:
    """sha256 of every file a stage writes (its output set and metrics), by path."""
    files = []
    for path in OUTPUTS[stage]:
        root = project / path
        files += sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def built(project, tmp_path_factory) -> Path:
    """A copy of the tiny project, built (by `dvc repro`) under the serial default."""
    return copy_of(project, tmp_path_factory.mktemp("executors") / "project")


@pytest.mark.parametrize("where", ["processes", "ray", "ray on a two-node cluster, shuffled submission"])
def test_every_fanned_out_stage_writes_the_same_bytes_under_serial_processes_and_ray(built, where, two_nodes):
    env = {executors.EXECUTOR_VARIABLE: "ray", "RAY_ADDRESS": ""}  # ray: the stage starts an instance of its own
    if "cluster" in where:  # started by this (unpinned) process: the workers must still run on the stages' kernels
        env |= {"RAY_ADDRESS": two_nodes.address, executors.SUBMISSION_SEED_VARIABLE: "7"}
    if where == "processes":
        env = {executors.EXECUTOR_VARIABLE: "processes"}
    for stage, name in FANNED_OUT:
        serial = outputs(built, stage)
        result = run_stage(built, stage, name, env)
        assert "worker processes" in result.stderr if where == "processes" else "units submitted to Ray" in result.stderr, result.stderr[
            -2000:
        ]
        assert outputs(built, stage) == serial, f"{stage} {name} under {where}"


def test_the_serial_default_never_imports_ray(built):
    record = built / "modules.json"
    wrapper = f"import atexit, json, sys\natexit.register(lambda: open({str(record)!r}, 'w').write(json.dumps(sorted(sys.modules))))"
    before = outputs(built, "main_one_to_one")
    run_stage(built, "main_one_to_one", "main", {}, wrapper)
    assert "ray" not in json.loads(record.read_text())
    assert outputs(built, "main_one_to_one") == before


KILL_FIRST_ATTEMPT = """
import os, signal, pathlib, {module} as target
original = target.{function}
def unit(*arguments):
    marker = pathlib.Path({marker!r})
    if {after}:
        result = original(*arguments)
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies: Ray runs the unit again elsewhere
    return result if {after} else original(*arguments)
target.{function} = unit
"""


@pytest.mark.parametrize(
    "stage, name, module, function, after",
    [
        ("main_one_to_one", "main", "universality.layer_pairs", "score_unit", False),  # killed before computing
        ("extract", "toy_a", "universality.activations.extract", "extract_chunk", True),  # killed after writing its chunk: rewritten
    ],
)
def test_a_unit_whose_worker_is_killed_on_its_first_attempt_gives_the_same_bytes(built, tmp_path, stage, name, module, function, after):
    marker = tmp_path / "killed"
    before = outputs(built, stage)
    wrapper = KILL_FIRST_ATTEMPT.format(module=module, function=function, marker=str(marker), after=after)
    run_stage(built, stage, name, {executors.EXECUTOR_VARIABLE: "ray", "RAY_ADDRESS": ""}, wrapper)
    assert marker.exists(), "no unit was killed"
    assert outputs(built, stage) == before


RECORD_DEVICES = """
import json, os, pathlib, time, ray, universality.activations.extract as target
ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False)  # two GPUs as far as Ray's scheduler knows
original = target.extract_chunk
def unit(*arguments):
    started = time.time()
    time.sleep(1.0)  # long enough for two units to overlap
    device = original(*arguments)
    path = arguments[-1]
    pathlib.Path({folder!r}, path.name + '.json').write_text(json.dumps({{
        'gpu_ids': ray.get_gpu_ids(), 'visible': os.environ.get('CUDA_VISIBLE_DEVICES'), 'start': started, 'end': time.time(), 'device': device}}))
    return device
target.extract_chunk = unit
"""


def test_with_fake_gpus_each_extraction_unit_gets_a_gpu_of_its_own(built, tmp_path):
    before = outputs(built, "extract")
    run_stage(
        built, "extract", "toy_a", {executors.EXECUTOR_VARIABLE: "ray", "RAY_ADDRESS": ""}, RECORD_DEVICES.format(folder=str(tmp_path))
    )
    units = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("*.json"))]
    assert len(units) >= 2
    assert all(len(unit["gpu_ids"]) == 1 and unit["visible"] == str(unit["gpu_ids"][0]) for unit in units)
    assert {unit["gpu_ids"][0] for unit in units} == {0, 1}
    for i, first in enumerate(units):
        for second in units[i + 1 :]:
            if first["start"] < second["end"] and second["start"] < first["end"]:  # ran at the same time
                assert first["gpu_ids"] != second["gpu_ids"]
    assert all(unit["device"] == "cpu" for unit in units)  # `auto`, with no CUDA here
    assert outputs(built, "extract") == before
