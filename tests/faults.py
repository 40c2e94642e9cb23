"""Helpers of the fault suite: a stage run as a user runs it, the one-line error it stopped with, and what it left."""

import hashlib
import subprocess
import sys
from pathlib import Path

import yaml
from tiny_project import merge, tools_env

from universality import io


def run_stage(project: Path, *argv: str, preexec=None, wrapper: str | None = None) -> subprocess.CompletedProcess:
    """`python -m universality ARGV` in `project`; `wrapper`, Python run first in the same process, injects a fault."""
    command = [sys.executable, "-m", "universality", *argv]
    if wrapper is not None:
        command = [
            sys.executable,
            "-c",
            f"{wrapper}\nimport runpy, sys\nsys.argv = {['universality', *argv]!r}\nrunpy.run_module('universality', run_name='__main__')",
        ]
    return subprocess.run(command, cwd=project, env=tools_env(), capture_output=True, text=True, preexec_fn=preexec)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The error a stage stopped with: exit status 1, no traceback, its last line."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr[-3000:]
    return last


def snapshot(project: Path, *paths: str) -> dict[str, str]:
    """sha256 of every file under `paths` (files or folders) in `project`."""
    files = []
    for path in paths:
        root = project / path
        files += sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root] if root.exists() else []
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def edited_params(project: Path, update: dict, name: str = "edited.yaml") -> Path:
    path = project / name
    path.write_text(yaml.safe_dump(merge(yaml.safe_load((project / "params.yaml").read_text()), update), sort_keys=False))
    return path


def leftovers(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob(f".*{io.TEMPORARY_SUFFIX}") if ".git" not in p.parts and ".dvc" not in p.parts)
