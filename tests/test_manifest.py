"""The manifest: each stage's record of its cached files, checked against the files and against dvc.lock."""

from pathlib import Path

import pytest

from universality import layout
from universality.artifacts import manifest


def lock_entry(*outputs: str) -> dict:
    """What dvc.lock says of a stage's outputs: size and, for a folder, the file count."""
    outs = []
    for output in outputs:
        files = [p for p in sorted(Path(output).rglob("*")) if p.is_file()] if Path(output).is_dir() else [Path(output)]
        outs.append(
            {"path": output, "size": sum(p.stat().st_size for p in files)} | ({"nfiles": len(files)} if Path(output).is_dir() else {})
        )
    return {"outs": outs}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Two recorded stages, each with its output folder, and the lock entries that describe them."""
    monkeypatch.chdir(tmp_path)
    for layer in (0, 1):
        path = layout.activation_cache("toy_a", layer)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(range(layer, 200)))
    layout.calibration().mkdir(parents=True)
    (layout.calibration() / "results.json").write_text("{}\n")
    manifest.write_record("extract", "toy_a")
    manifest.write_record("calibration", None)
    manifest.write_record("render", None)  # caches nothing: no record
    return {"extract@toy_a": lock_entry("data/toy_a/activations"), "calibration": lock_entry("results/calibration"), "render": {}}


def test_a_record_holds_every_file_and_the_environment(workspace):
    record = manifest.read_records()[1]
    assert record["stage"] == "extract@toy_a"
    assert sorted(record["files"]) == ["data/toy_a/activations/L0.safetensors", "data/toy_a/activations/L1.safetensors"]
    assert record["files"]["data/toy_a/activations/L1.safetensors"]["size"] == 199
    assert {"cpu", "gpus", "torch_cuda", "packages", "numerics"} <= set(record["environment"])
    assert not layout.manifest_record("render", None).exists()


def test_an_intact_workspace_passes(workspace):
    check = manifest.check_workspace(workspace)
    assert check.problems == [] and check.not_pulled == [] and check.verified == 3
    assert check.verified_bytes == 200 + 199 + 3


def test_a_changed_byte_a_missing_file_and_a_stray_file_are_each_named(workspace):
    cache = layout.activation_cache("toy_a", 1)
    cache.write_bytes(b"\x00" + cache.read_bytes()[1:])
    layout.activation_cache("toy_a", 0).unlink()
    (layout.activations("toy_a") / "L2.safetensors").write_bytes(b"stray")
    problems = manifest.check_workspace(workspace).problems
    assert problems == [
        "data/toy_a/activations/L0.safetensors is missing: fetch it with `dvc pull extract@toy_a`",
        "data/toy_a/activations/L1.safetensors differs from its sha256 in results/manifest/extract/toy_a.json: "
        "fetch it again with `dvc pull --force extract@toy_a`",
        "data/toy_a/activations/L2.safetensors is not in the manifest of stage extract@toy_a: remove it, then `dvc checkout extract@toy_a`",
    ]


def test_an_output_not_pulled_is_reported_not_failed(workspace):
    for layer in (0, 1):
        layout.activation_cache("toy_a", layer).unlink()
    layout.activations("toy_a").rmdir()
    check = manifest.check_workspace(workspace)
    assert check.not_pulled == ["extract@toy_a"] and check.problems == [] and check.verified == 1


def test_records_and_lock_must_describe_the_same_stages_and_outputs(workspace):
    stale = workspace | {"extract@toy_a": {"outs": [{"path": "data/toy_a/activations", "size": 10, "nfiles": 2}]}, "pair@main": {}}
    problems = manifest.check_workspace(stale).problems
    assert problems == [
        "results/manifest/extract/toy_a.json gives data/toy_a/activations 2 files of 399 bytes, dvc.lock 2 of 10: "
        "rerun the stage with `dvc repro -s -f extract@toy_a`",
        "dvc.lock lists stage pair@main but results/manifest/pair/main.json does not exist: rerun it with `dvc repro -s -f pair@main`",
    ]
    unlisted = {stage: entry for stage, entry in workspace.items() if stage != "calibration"}
    assert manifest.check_workspace(unlisted).problems == [
        "results/manifest/calibration.json records stage calibration, which dvc.lock does not list: remove it"
    ]
