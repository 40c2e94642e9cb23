"""Faults a user makes by hand, each refused with one line, and the first fix that line names, run as named: it works."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from faults import edited_params, leftovers, one_line_error, run_stage, snapshot
from tiny_project import dvc, tools_env

from universality import io, layout


def first_fix(error: str) -> list[str]:
    """The first command quoted in `error`, as argv."""
    return error.split("`")[1].split()


def apply(project: Path, command: list[str]) -> None:
    if command[0] == "dvc":
        dvc(*command[1:], cwd=project)
    else:
        subprocess.run(command, cwd=project, env=tools_env(), check=True, capture_output=True)


def inputs_usable(project: Path, stage: str, name: str | None) -> list[str]:
    """What `provenance.input_problems` finds for `stage@name` in `project` (nothing once every input is usable)."""
    code = (
        "import json; from universality.artifacts import provenance; from universality.params import load_params; "
        f"print(json.dumps(provenance.input_problems({stage!r}, {name!r}, load_params())))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=project, env=tools_env(), capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def cache_object(project: Path, output: str, file: str) -> Path:
    """The local DVC cache's object for `file` of folder output `output`, as dvc.lock records it."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    oid = next(out["md5"] for stage in lock.values() for out in stage.get("outs", []) if out["path"] == output)
    cache = project / ".dvc/cache/files/md5"
    entries = json.loads((cache / oid[:2] / oid[2:]).read_text())
    md5 = next(entry["md5"] for entry in entries if entry["relpath"] == file)
    return cache / md5[:2] / md5[2:]


def flip_bytes(path: Path) -> None:
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    raw[-64:] = bytes(b ^ 0xFF for b in raw[-64:])
    path.write_bytes(bytes(raw))


def test_a_damaged_cache_with_a_damaged_local_dvc_copy_is_rebuilt_by_the_named_command(built):
    cache = built / layout.activation_cache("toy_a", 0)
    good = hashlib.sha256(cache.read_bytes()).hexdigest()
    stored = cache_object(built, "data/toy_a/activations", "L0.safetensors")
    flip_bytes(stored)  # `dvc checkout --force` would install this damaged copy again
    flip_bytes(cache)
    error = one_line_error(run_stage(built, "pair", "main"))
    assert error.startswith("error: data/toy_a/activations does not match its provenance.json (L0.safetensors): rebuild it with ")
    assert first_fix(error) == ["dvc", "repro", "-s", "--force", "extract@toy_a"]
    apply(built, first_fix(error))
    assert hashlib.sha256(cache.read_bytes()).hexdigest() == good and inputs_usable(built, "pair", "main") == []
    assert hashlib.md5(stored.read_bytes()).hexdigest() == stored.parent.name + stored.name  # the DVC cache is whole again


def test_a_hand_edited_generated_table_is_rebuilt_by_the_named_command_not_a_checkout(built):
    table = built / "paper/generated/main/one_to_one.tex"
    good = table.read_text()
    table.write_text(good.replace("0.", "9.", 1))
    error = one_line_error(run_stage(built, "paper"))
    assert error.startswith("error: paper/generated does not match its provenance.json (main/one_to_one.tex): rebuild it with ")
    assert first_fix(error) == ["dvc", "repro", "-s", "--force", "render"]  # DVC caches no copy of it to check out
    apply(built, first_fix(error))
    assert table.read_text() == good and inputs_usable(built, "paper", None) == []


def test_swapped_activation_folders_are_refused_before_any_compute_and_the_named_checkout_restores_them(built):
    a, skyline = built / "data/toy_a/activations", built / "data/toy_a_sae_seed/activations"
    before = snapshot(built, "results/main/sensitivity")
    a.rename(built / "aside")
    skyline.rename(a)
    (built / "aside").rename(skyline)
    error = one_line_error(run_stage(built, "sensitivity", "main"))
    assert error.startswith("error: data/toy_a/activations holds the outputs of extract@toy_a_sae_seed, not of extract@toy_a")
    assert first_fix(error) == ["dvc", "checkout", "--force", "extract@toy_a"]
    assert snapshot(built, "results/main/sensitivity") == before
    apply(built, first_fix(error))
    assert inputs_usable(built, "sensitivity", "main") == []


def test_a_truncated_record_is_named_in_one_line_and_the_named_command_restores_it(built):
    record = built / "results/main/pair/provenance.json"
    record.write_text(record.read_text()[:100])
    error = one_line_error(run_stage(built, "collapse", "main"))
    assert error.startswith("error: results/main/pair/provenance.json is not valid JSON (")
    assert first_fix(error) == ["dvc", "checkout", "--force", "pair@main"]
    apply(built, first_fix(error))
    assert inputs_usable(built, "collapse", "main") == []


def test_an_appendix_scored_with_other_settings_is_refused_by_render_and_the_named_rerun_fixes_it(built):
    before = snapshot(built, "paper/generated")
    permutations = yaml.safe_load((built / "params.yaml").read_text())["nulls"]["permutations"]
    other = edited_params(built, {"nulls": {"permutations": permutations + 10}})
    assert run_stage(built, "appendix_buckets", "main", "--params", str(other)).returncode == 0
    error = one_line_error(run_stage(built, "render"))
    assert "were computed with different nulls.permutations" in error and f"({permutations} and {permutations + 10})" in error
    assert first_fix(error) == ["dvc", "repro", "appendix_buckets@main"]
    assert snapshot(built, "paper/generated") == before
    apply(built, first_fix(error))
    assert run_stage(built, "render").returncode == 0 and snapshot(built, "paper/generated") == before


def test_a_hand_edited_model_loss_is_refused_by_render_and_git_checkout_restores_it(built):
    subprocess.run(["git", "add", "-A"], cwd=built, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "built"], cwd=built, check=True)
    metrics = built / layout.model_metrics("toy_a")
    edited = io.read_json(metrics)
    edited |= {key: 0.5 for key in edited if "loss" in key}
    metrics.write_text(io.dumps_json(edited))
    error = one_line_error(run_stage(built, "render"))
    assert error.startswith("error: results/models/toy_a.json is not a copy of data/models/toy_a/metrics.json (edited by hand?)")
    assert first_fix(error) == ["git", "checkout", "--", "results/models/toy_a.json"]
    apply(built, first_fix(error))
    assert run_stage(built, "render").returncode == 0


def test_a_bad_extract_setting_under_dvc_repro_deletes_nothing(built):
    outputs = ("data/toy_a/activations", "results/toy_a/quality.json", "results/manifest/extract/toy_a.json", "results/main")
    before = snapshot(built, *outputs)
    params = yaml.safe_load((built / "params.yaml").read_text())
    (built / "params.yaml").write_text(yaml.safe_dump(params | {"extract": params["extract"] | {"chunk_windows": 0}}, sort_keys=False))
    result = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=built, env=tools_env(), capture_output=True, text=True)
    assert result.returncode != 0
    assert "extract.chunk_windows = 0 is out of range; allowed: 1 <= extract.chunk_windows" in result.stdout + result.stderr
    assert snapshot(built, *outputs) == before


def test_an_immutable_metrics_copy_is_refused_before_anything_is_replaced(built):
    metrics = built / layout.stage_metrics("main", "pair")
    if subprocess.run(["chattr", "+i", str(metrics)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root on a file system with attributes")
    try:
        before = snapshot(built, "results/main/pair", "results/manifest/pair/main.json")
        error = one_line_error(run_stage(built, "pair", "main"))
        assert error == (
            "error: results/main/pair_metrics.json is read-only or immutable: make it writable (`chmod u+w`, or `chattr -i` for "
            "an immutable file), then rerun pair@main (nothing was computed)"
        )
        assert snapshot(built, "results/main/pair", "results/manifest/pair/main.json") == before
    finally:
        subprocess.run(["chattr", "-i", str(metrics)], check=True)  # the fix the message names
    assert run_stage(built, "pair", "main").returncode == 0
    assert snapshot(built, "results/main/pair") == {k: v for k, v in before.items() if k.startswith("results/main/pair/")}


HOLD = """
import pathlib, time
from universality import numerics
numerics.pin()  # as python -m universality does, before the stage module loads numpy
import universality.stages.main_one_to_one as stage
_run = stage.run
def run(*args):  # called with the lock held: say so, then wait to be released
    pathlib.Path({held!r}).touch()
    while not pathlib.Path({release!r}).exists():
        time.sleep(0.05)
    _run(*args)
stage.run = run
"""


def test_a_second_direct_run_of_a_stage_is_refused_and_the_first_completes(built, tmp_path):
    outputs = ("results/main/main_one_to_one", str(layout.stage_metrics("main", "main_one_to_one")))
    before = snapshot(built, *outputs)
    held, release, log = tmp_path / "held", tmp_path / "release", tmp_path / "first.log"
    wrapper = HOLD.format(held=str(held), release=str(release))
    program = f"{wrapper}\nfrom universality.cli import main\nmain(['main_one_to_one', 'main'])"
    with log.open("w") as stderr:
        first = subprocess.Popen([sys.executable, "-c", program], cwd=built, env=tools_env(), stderr=stderr)
        deadline = time.monotonic() + 300
        while not held.exists():
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.02)
        error = one_line_error(run_stage(built, "main_one_to_one", "main"))
        release.touch()
        assert first.wait() == 0, log.read_text()[-3000:]
    assert error == (
        "error: main_one_to_one@main is already running in this checkout (another process holds the lock of "
        "results/main/main_one_to_one): wait for it to finish, then rerun if you still need to"
    )
    assert snapshot(built, *outputs) == before and not leftovers(built)
