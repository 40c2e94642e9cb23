"""What brings a damaged output back: the local DVC cache's copy where it is intact, else a rerun of its stage alone.

`dvc checkout --force` installs whatever the local cache holds, a damaged object included, and does
nothing for outputs DVC does not cache (render's tables, kept in git); `dvc repro -s --force STAGE`
reruns that one stage (without `-s` DVC reruns everything upstream too) and rewrites the cache's copy.
So the message names checkout first only where every cached file of the output hashes to what
dvc.lock records.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from universality import layout

LOCK_FILE = Path("dvc.lock")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _locked_md5(output: Path, instance: str) -> str | None:
    """The md5 dvc.lock records for `output` of stage `instance` (a `.dir` object for a folder), if any."""
    if not LOCK_FILE.exists():
        return None
    stage = (yaml.safe_load(LOCK_FILE.read_text(encoding="utf-8")) or {}).get("stages", {}).get(instance, {})
    return next((out.get("md5") for out in stage.get("outs", []) if out.get("path") == output.as_posix()), None)


def local_copy_intact(output: Path, instance: str) -> bool:
    """Whether the local DVC cache holds every file of `output` with the content dvc.lock records (each one hashed)."""
    oid = _locked_md5(output, instance)
    if oid is None:
        return False
    try:
        from dvc.repo import Repo  # only on this error path: DVC is slow to import, and absent on a bare GPU machine
    except ImportError:
        return False
    with Repo(".") as repo:
        cache = repo.cache.local
        top = Path(cache.oid_to_path(oid))
        if not top.is_file():
            return False
        if not oid.endswith(".dir"):
            return _md5(top) == oid
        try:
            entries = json.loads(top.read_text(encoding="utf-8"))
        except ValueError:
            return False
        objects = {Path(cache.oid_to_path(entry["md5"])): entry["md5"] for entry in entries}
        return all(path.is_file() and _md5(path) == md5 for path, md5 in objects.items())


def damaged_message(path: str | Path, problem: str) -> str:
    """`path` (a file or an output folder) is unusable because of `problem`; the command that replaces it with a good copy."""
    where = layout.relative(path)
    instance = layout.producing_stage(where)
    if instance is None:
        return f"{where} {problem}: rebuild it with `dvc repro`"
    rerun = f"`dvc repro -s --force {instance}`"
    cached = [output for output in layout.cached_outputs(*layout.split_instance(instance)) if where.is_relative_to(output)]
    if cached and local_copy_intact(cached[0], instance):
        return f"{where} {problem}: restore it with `dvc checkout --force {instance}` (the local DVC cache holds a good copy) or rerun it with {rerun}"
    why = "the local DVC cache holds no good copy" if cached else "DVC does not cache it"
    return f"{where} {problem}: rebuild it with {rerun} ({why}; `-s` reruns this stage alone)"
