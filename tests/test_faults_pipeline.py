"""Faults injected into a built tiny project (a copy per test): each stage refuses stale, damaged or mixed inputs with
one line naming the folder and the command that fixes it, and a failed or killed stage leaves the previous outputs whole."""

import errno
import re
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from faults import edited_params, leftovers, one_line_error, run_stage, snapshot
from tiny_project import dvc, merge, tools_env

from universality import io, layout

STALE = "is stale: it was computed from another version of {input} than the one here; rebuild it with `dvc repro {stage}`"


@pytest.mark.parametrize("windows", [+24, -24])
def test_a_rebuilt_token_set_makes_every_cache_read_from_it_stale(built, windows):
    before = snapshot(built, "results/main")
    current = yaml.safe_load((built / "params.yaml").read_text())["token_sets"]["wordnet"]["analysis_windows"]
    edited = edited_params(built, {"token_sets": {"wordnet": {"analysis_windows": current + windows}}})
    assert run_stage(built, "tokens", "wordnet", "--params", str(edited)).returncode == 0
    error = one_line_error(run_stage(built, "pair", "main"))
    assert error == "error: data/toy_a/activations " + STALE.format(input="data/tokens/wordnet", stage="extract@toy_a")
    assert snapshot(built, "results/main") == before


def test_the_paper_states_the_settings_the_results_were_computed_with_not_params_yaml(built):
    before = snapshot(built, "paper/generated")
    path = built / "params.yaml"
    path.write_text(
        yaml.safe_dump(
            merge(yaml.safe_load(path.read_text()), {"nulls": {"permutations": 7}, "token_sets": {"wordnet": {"analysis_windows": 80}}})
        )
    )
    assert run_stage(built, "render").returncode == 0
    assert snapshot(built, "paper/generated") == before  # `dvc repro` would rerun the stages first; render alone states what was run


def test_scores_computed_with_other_settings_are_not_mixed_into_one_paper(built):
    before = snapshot(built, "paper/generated")
    other = edited_params(built, {"nulls": {"permutations": 7}})  # a planted check the paper quotes, rescored by hand
    assert run_stage(built, "main_one_to_one", "planted_related", "--params", str(other)).returncode == 0
    assert io.read_json(built / "results/planted_related/main_one_to_one/provenance.json")["params"]["nulls"]["permutations"] == 7
    error = one_line_error(run_stage(built, "render"))
    assert "results/planted_related/main_one_to_one were computed with different nulls.permutations" in error
    assert error.endswith("(50 and 7); rerun with the value of params.yaml: `dvc repro main_one_to_one@planted_related`")
    assert snapshot(built, "paper/generated") == before


def test_a_changed_pair_makes_its_scores_stale_for_every_reader(built):
    other = edited_params(built, {"filters": {"min_correlation": 0.3}})
    assert run_stage(built, "pair", "main", "--params", str(other)).returncode == 0
    error = one_line_error(run_stage(built, "render"))
    assert error == "error: results/main/main_one_to_one " + STALE.format(input="results/main/pair", stage="main_one_to_one@main")


def _ignore_file_size_signal():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of the process dying
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_full_disk_during_scoring_loses_nothing_and_a_rerun_completes(built):
    outputs = ("results/main/main_one_to_one", str(layout.stage_metrics("main", "main_one_to_one")))
    before = snapshot(built, *outputs)
    error = one_line_error(run_stage(built, "main_one_to_one", "main", preexec=_ignore_file_size_signal))
    assert (
        error.startswith("error: results/main/")
        and "file too large for this process's file size limit (ulimit -f); raise it and rerun" in error
    )
    assert snapshot(built, *outputs) == before
    assert run_stage(built, "main_one_to_one", "main").returncode == 0
    assert snapshot(built, *outputs) == before and not leftovers(built)


FAILING_RESULTS_WRITES = """
import errno, os
_replace = os.replace
def replace(source, target, *args, **kwargs):  # every file moved into results/ fails with errno {number}
    if "results/" in str(target):
        raise OSError({number}, os.strerror({number}), str(target))
    return _replace(source, target, *args, **kwargs)
os.replace = replace
"""


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (errno.EROFS, "the file system is read-only; make it writable and rerun"),
        (errno.EACCES, "permission denied; make it writable (or run as its owner) and rerun"),
        (errno.ENOSPC, "no space left on the device; free some and rerun"),
    ],
)
def test_read_only_or_full_outputs_give_one_line_naming_the_output_folder(built, number, message):
    before = snapshot(built, "results/main/pair", "results/main/pair_metrics.json")
    error = one_line_error(run_stage(built, "pair", "main", wrapper=FAILING_RESULTS_WRITES.format(number=number)))
    assert error == f"error: results/main/pair: {message} (an output folder is replaced only once complete)"
    assert snapshot(built, "results/main/pair", "results/main/pair_metrics.json") == before


def test_a_corrupted_cache_is_refused_and_the_named_command_restores_it(built):
    before = snapshot(built, "results/main/pair")
    cache = built / layout.activation_cache("toy_a", 0)
    raw = bytearray(cache.read_bytes())
    for offset in np.random.default_rng(0).choice(np.arange(len(raw) - 4000, len(raw), 4), size=1000, replace=False):
        raw[offset + 3] ^= 0x40  # exponent bits of 1,000 float32 values
    cache.write_bytes(bytes(raw))
    error = one_line_error(run_stage(built, "pair", "main"))
    fix = "dvc checkout --force extract@toy_a"
    assert error.startswith("error: data/toy_a/activations does not match its provenance.json (L0.safetensors): ") and f"`{fix}`" in error
    assert snapshot(built, "results/main/pair") == before
    dvc(*fix.split()[1:], cwd=built)
    from universality.activations.cache import load_cache

    assert load_cache(cache).codes.nnz  # restored: checksum and structure pass


def test_an_output_set_without_its_record_is_refused(built):
    (built / "results/main/pair/provenance.json").unlink()
    error = one_line_error(run_stage(built, "collapse", "main"))
    assert error.startswith("error: results/main/pair has no provenance.json, so what it was computed from is unknown: ")


def _kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> None:
    """SIGKILL `process` as soon as `ready()` holds."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the stage finished before the fault was injected"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize(
    ("argv", "outputs", "progress"),
    [
        (["model", "toy_a"], ["data/models/toy_a", "results/models/toy_a.json"], "data/models/.toy_a.*.tmp"),
        (
            ["extract", "toy_a"],
            ["data/toy_a/activations", "results/toy_a/quality.json"],
            "data/toy_a/extract_scratch/chunk_00001.safetensors",
        ),
        (["pair", "main"], ["results/main/pair", "results/main/pair_metrics.json"], "results/main/.pair.*.tmp/pairs_*"),
        (["main_one_to_one", "main"], ["results/main/main_one_to_one"], "log:scoring"),  # while it computes
        (["render"], ["paper/generated"], "paper/.generated.*.tmp/main"),
    ],
)
def test_a_stage_killed_mid_run_keeps_its_old_outputs_and_a_rerun_cleans_up_and_completes(built, tmp_path, argv, outputs, progress):
    """`progress`: a path pattern (or `log:` and text of the stage's log) that shows the stage is midway."""
    before = snapshot(built, *outputs)
    log = tmp_path / "stage.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "universality", *argv], cwd=built, env=tools_env(), stdout=subprocess.DEVNULL, stderr=stderr
        )
        if progress.startswith("log:"):
            _kill_when(process, lambda: progress[4:] in log.read_text())
        else:
            _kill_when(process, lambda: any(built.glob(progress)))
    assert process.returncode == -signal.SIGKILL
    assert snapshot(built, *outputs) == before
    rerun = run_stage(built, *argv)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if argv[0] == "extract":
        assert re.search(r"resuming, [23] of 3 chunks already written", rerun.stderr)
    assert snapshot(built, *outputs) == before and not leftovers(built)
