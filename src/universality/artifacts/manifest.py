"""The manifest of cached artifacts: each file's sha256 and size, and the environment that wrote it.

Every stage instance with outputs that DVC caches (and pushes to the remote) writes a record,
`results/manifest/<stage>/<name>.json`, as it finishes: its files' hashes and sizes, the package
versions, torch's CUDA build, the CPU and GPUs of the machine, and the kernels it ran on
(`universality.numerics`). The records are committed with `dvc.lock`, so a clone knows what a
pulled cache must hold; `check_workspace` verifies the files that are present.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from universality import io, layout, numerics

PACKAGES = ("torch", "sae-lens", "transformer-lens", "numpy", "scipy", "tokenizers", "safetensors", "pandas", "pyarrow", "dvc")


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor() or "unknown")


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment() -> dict:
    """What produced a stage's outputs: packages, torch's CUDA build, CPU, GPUs and the kernels in effect."""
    import torch

    gpus = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "torch_cuda": torch.version.cuda,
        "gpus": gpus,
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "libc": " ".join(platform.libc_ver()),
        "numerics": numerics.in_effect(),
    }


def file_entries(outputs: list[Path]) -> dict[str, dict]:
    """sha256 and size of every file of `outputs` (files, or folders walked in sorted order)."""
    files = []
    for output in outputs:
        files += sorted(p for p in output.rglob("*") if p.is_file()) if output.is_dir() else [output]
    return {str(path): {"sha256": io.sha256_file(path), "size": path.stat().st_size} for path in files}


def write_record(stage: str, name: str | None) -> None:
    """Record stage instance `stage@name`'s cached outputs and this environment (nothing for stages that cache none)."""
    outputs = layout.cached_outputs(stage, name)
    if outputs:
        record = {"stage": layout.stage_instance(stage, name), "files": file_entries(outputs), "environment": environment()}
        io.write_json(layout.manifest_record(stage, name), record)


def recorded_sha256(path: Path) -> str | None:
    """The sha256 of cached file `path` in the manifest record of the stage that writes it, if recorded."""
    instance = layout.producing_stage(path)
    record = record_path(instance) if instance else None
    if record is None or not record.exists():
        return None
    return io.read_json(record)["files"].get(path.as_posix(), {}).get("sha256")


def outputs_of(instance: str) -> list[Path]:
    return layout.cached_outputs(*layout.split_instance(instance))


def record_path(instance: str) -> Path:
    return layout.manifest_record(*layout.split_instance(instance))


def read_records(root: Path = Path(".")) -> list[dict]:
    folder = root / "results" / layout.MANIFEST_DIRECTORY
    return [io.read_json(path) for path in sorted(folder.rglob("*.json"))]


@dataclass
class CacheCheck:
    """What `check_workspace` found: files verified, stage outputs not pulled, and problems."""

    verified: int = 0
    verified_bytes: int = 0
    not_pulled: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    machines: dict[str, list[str]] = field(default_factory=dict)  # where the records say the outputs were made -> stages


def check_workspace(lock_stages: dict[str, dict], root: Path = Path(".")) -> CacheCheck:
    """Verify every cached file present against its record; dvc.lock and the records must list the same stages and outputs."""
    check = CacheCheck()
    records = {record["stage"]: record for record in read_records(root)}
    for stage in sorted(set(lock_stages) | set(records)):
        if stage not in records and outputs_of(stage):
            check.problems.append(
                f"dvc.lock lists stage {stage} but {record_path(stage)} does not exist: rerun it with `dvc repro -s -f {stage}`"
            )
        elif stage not in lock_stages:
            check.problems.append(f"{record_path(stage)} records stage {stage}, which dvc.lock does not list: remove it")
        elif stage in records:
            check.problems += lock_disagreements(records[stage], lock_stages[stage])
            check_files(records[stage], root, check)
    return check


def lock_disagreements(record: dict, lock_stage: dict) -> list[str]:
    """Each cached output must have, in the record, the file count and total size dvc.lock gives it."""
    stage = record["stage"]
    cached = {str(path) for path in outputs_of(stage)}
    problems = []
    for out in (out for out in lock_stage.get("outs", []) if out["path"] in cached):
        files = [entry for name, entry in record["files"].items() if name == out["path"] or name.startswith(out["path"] + "/")]
        found, expected = (len(files), sum(entry["size"] for entry in files)), (out.get("nfiles", 1), out.get("size"))
        if found != expected:
            problems.append(f"{record_path(stage)} gives {out['path']} {found[0]} files of {found[1]} bytes, "
                            f"dvc.lock {expected[0]} of {expected[1]}: rerun the stage with `dvc repro -s -f {stage}`")  # fmt: skip
    return problems


def check_files(record: dict, root: Path, check: CacheCheck) -> None:
    """Hash every recorded file of a stage whose outputs are present; note the stage as not pulled when none is."""
    stage = record["stage"]
    outputs = [root / path for path in outputs_of(stage)]
    if not any(output.exists() for output in outputs):
        check.not_pulled.append(stage)
        return
    for name, expected in record["files"].items():
        path = root / name
        if not path.is_file():
            check.problems.append(f"{name} is missing: fetch it with `dvc pull {stage}`")
        elif path.stat().st_size != expected["size"] or io.sha256_file(path) != expected["sha256"]:
            check.problems.append(f"{name} differs from its sha256 in {record_path(stage)}: "
                                  f"fetch it again with `dvc pull --force {stage}`")  # fmt: skip
        else:
            check.verified += 1
            check.verified_bytes += expected["size"]
    present = [path for output in outputs if output.is_dir() for path in output.rglob("*") if path.is_file()]
    check.problems += [f"{path.relative_to(root)} is not in the manifest of stage {stage}: remove it, then `dvc checkout {stage}`"
                       for path in sorted(present) if str(path.relative_to(root)) not in record["files"]]  # fmt: skip
    made = record["environment"]
    machine = ", ".join([made["cpu"], *made["gpus"]]) + f"; torch {made['packages']['torch']}"
    check.machines.setdefault(machine, []).append(stage)
