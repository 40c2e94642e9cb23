"""What every stage output was computed from, checked before anything reads it.

A stage instance writes its outputs as one folder (an *output set*, see `layout.output_folder`)
with a record, `provenance.json`, beside them: the params it read (the keys dvc.yaml lists
for it, with their values), the digest of every input it read (the data dependencies
dvc.yaml lists), each of its own files' sha256, and its digest (the hash of those). The set is
written in a temporary folder and swapped in whole (`io.atomic_directory`), so the folder under
its final name is always a complete set from one run, or absent.

Before a stage computes, `check_inputs` opens each input: a set whose files disagree with its
record, or that lacks a record, is refused as damaged; a set computed from an input that has
changed since (a token set rebuilt under old caches, a pair rerun under old scores) is refused
as stale. Either message names the folder and the `dvc` command that fixes it. Readers take the
params of a result from its record (`recorded_params`), never from params.yaml.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from universality import io, layout, restore
from universality.errors import InputError
from universality.params.schema import Params

RECORD = "provenance.json"
_REFERENCE = re.compile(r"\$\{([^}]+)\}")


@dataclasses.dataclass(frozen=True)
class StageRun:
    """One stage instance about to compute: its name, the params it reads and the digests of its inputs."""

    instance: str
    params: dict[str, Any]
    inputs: dict[str, str]


def code_digest(stage: str) -> str:
    """The hash of the package files dvc.yaml lists as `stage`'s code (every kind's module where it names `${item.kind}`)."""
    spec = yaml.safe_load(layout.DVC_FILE.read_text(encoding="utf-8"))["stages"][stage]
    files: list[Path] = []
    for dep in (spec.get("do", spec))["deps"]:
        if dep.startswith("src/"):
            for path in sorted(Path().glob(dep.replace("${item.kind}", "*"))):
                files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return _files_digest({path.as_posix(): io.sha256_file(path) for path in files})


def _lookup(context: dict[str, Any], dotted: str) -> Any:
    value = context
    for part in dotted.split("."):
        value = value[part]
    return value


def declared_inputs(stage: str, name: str | None, params: Params) -> list[Path]:
    """The data dependencies dvc.yaml declares for `stage@name`."""
    return [Path(dep) for dep in _declared(stage, name, params)[0]]


def declared_outputs(stage: str, name: str | None, params: Params) -> list[Path]:
    """Every path dvc.yaml declares `stage@name` writes: its outputs and metrics."""
    return [Path(out) for out in _declared(stage, name, params)[2]]


def _declared(stage: str, name: str | None, params: Params) -> tuple[list[str], list[str], list[str]]:
    """The data dependencies, params keys and outputs dvc.yaml declares for `stage@name`, resolved as DVC resolves them."""
    spec = yaml.safe_load(layout.DVC_FILE.read_text(encoding="utf-8"))["stages"][stage]
    body = spec.get("do", spec)
    context: dict[str, Any] = dataclasses.asdict(params)
    if "foreach" in spec:
        foreach = _REFERENCE.fullmatch(spec["foreach"])
        assert foreach is not None, f"{stage}: foreach is not one ${{...}} reference"
        section = foreach.group(1)
        context |= {"key": name, "item": context[section][name]}

    def resolve(text: str) -> str:
        return _REFERENCE.sub(lambda match: str(_lookup(context, match.group(1))), text)

    data = [resolve(dep) for dep in body.get("deps", []) if not dep.startswith("src/")]
    keys = [resolve(key) for key in body.get("params", [])]
    outs = [resolve(out if isinstance(out, str) else next(iter(out))) for out in body.get("outs", []) + body.get("metrics", [])]
    return data, keys, outs


def digest_of(path: Path) -> str:
    """The identity of an input: an output set's recorded digest, else the sha256 of the file (or of a folder's files)."""
    record = path / RECORD
    if record.exists():
        return io.read_json(record)["digest"]
    return _files_digest(_file_hashes(path)) if path.is_dir() else io.sha256_file(path)


def _file_hashes(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != RECORD)
    return {p.relative_to(folder).as_posix(): io.sha256_file(p) for p in files}


def _files_digest(hashes: dict[str, str]) -> str:
    return hashlib.sha256(io.dumps_json(hashes).encode()).hexdigest()


def verify_set(path: Path) -> dict[str, Any]:
    """The record of output set `path`, after checking that its files are exactly the recorded ones."""
    io.require(path)
    if not (path / RECORD).exists():
        raise InputError(restore.damaged_message(path, f"has no {RECORD}, so what it was computed from is unknown"))
    record = io.read_json(path / RECORD)
    instance = layout.producing_stage(path)
    if instance is not None and record.get("stage") != instance:
        raise InputError(
            restore.damaged_message(path, f"holds the outputs of {record.get('stage')}, not of {instance} (its {RECORD} says so)")
        )
    found = _file_hashes(path)
    changed = sorted(set(found) ^ set(record["files"]) | {f for f in found if record["files"].get(f) not in (None, found[f])})
    if changed:
        raise InputError(
            restore.damaged_message(path, f"does not match its {RECORD} ({', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''})")
        )
    return record


def _check_fresh(path: Path, record: dict[str, Any]) -> None:
    """Refuse set `path` when an input it was computed from has changed since (and is here to compare)."""
    for source, recorded in record["inputs"].items():
        if Path(source).exists() and digest_of(Path(source)) != recorded:
            stage = layout.producing_stage(path) or "the stage that writes it"
            raise InputError(
                f"{path} is stale: it was computed from another version of {source} than the one here; rebuild it with `dvc repro {stage}`"
            )


def input_problems(stage: str, name: str | None, params: Params) -> list[str]:
    """Why inputs of `stage@name` cannot be used (missing, damaged, stale); [] when all can."""
    problems = []
    for dep in _declared(stage, name, params)[0]:
        path = Path(dep)
        try:
            io.require(path)
            if path.is_dir() and layout.producing_stage(path) is not None:
                _check_fresh(path, verify_set(path))
        except (InputError, FileNotFoundError) as err:
            problems.append(str(err))
    return problems


def _leaves(value: Any, key: str) -> dict[str, str]:
    """`value` of params key `key` as its dotted leaf keys, each with its value in canonical JSON."""
    if isinstance(value, dict):
        return {leaf: text for part, inner in value.items() for leaf, text in _leaves(inner, f"{key}.{part}").items()}
    return {key: io.dumps_json(value).strip()}


def drawn_on(paths: list[Path]) -> dict[Path, dict[str, Any]]:
    """The records of the output sets `paths` and every set they were computed from, as far as those are present."""
    records: dict[Path, dict[str, Any]] = {}
    queue = list(paths)
    while queue:
        path = queue.pop()
        if path not in records and (path / RECORD).is_file():
            records[path] = io.read_json(path / RECORD)
            queue += [Path(source) for source in records[path]["inputs"]]
    return records


def check_one_setting(paths: list[Path], params: Params) -> None:
    """Refuse inputs computed, somewhere up their chain, with two values of one params key; name the stages to rerun."""
    current = {leaf: text for key, value in dataclasses.asdict(params).items() for leaf, text in _leaves(value, key).items()}
    seen: dict[str, tuple[str, Path]] = {}
    for path, record in sorted(drawn_on(paths).items()):
        for key, text in (leaf for recorded, value in record["params"].items() for leaf in _leaves(value, recorded).items()):
            first, where = seen.setdefault(key, (text, path))
            if first != text:
                off = [layout.producing_stage(p) for p, value in ((where, first), (path, text)) if value != current.get(key)]
                fix = f"`dvc repro {off[0]}`" if len(off) == 1 and off[0] else "`dvc repro`"
                raise InputError(f"{where} and {path} were computed with different {key} ({first} and {text}); "
                                 f"rerun with the value of params.yaml: {fix}")  # fmt: skip


def check_inputs(stage: str, name: str | None, params: Params) -> StageRun:
    """Check every input of `stage@name` (present, undamaged, fresh, computed with one value of each setting) and return
    what its outputs will record."""
    problems = input_problems(stage, name, params)
    if problems:
        raise InputError(problems[0])
    data, keys, _ = _declared(stage, name, params)
    check_one_setting(declared_inputs(stage, name, params), params)
    context = dataclasses.asdict(params)
    return StageRun(
        layout.stage_instance(stage, name), {key: _lookup(context, key) for key in keys}, {dep: digest_of(Path(dep)) for dep in data}
    )


_current: StageRun | None = None


@contextmanager
def running(run: StageRun) -> Iterator[None]:
    """Within this block, `writing_set` records `run` in every set it writes."""
    global _current
    previous, _current = _current, run
    try:
        yield
    finally:
        _current = previous


@contextmanager
def writing_set(path: Path) -> Iterator[Path]:
    """Yield a temporary folder for stage output set `path`; on success record it and swap it in whole."""
    if _current is None:
        raise RuntimeError(f"{path}: output sets are written under provenance.running() (python -m universality sets it)")
    with io.atomic_directory(path) as staging:
        yield staging
        hashes = _file_hashes(staging)
        record = {
            "stage": _current.instance,
            "params": _current.params,
            "inputs": _current.inputs,
            "files": hashes,
            "digest": _files_digest(hashes),
        }
        io.write_json(staging / RECORD, record)


def recorded_params(path: Path, key: str) -> Any:
    """The value params key `key` (dotted) had when output set `path` was computed, from its record
    (which `check_inputs` verified before the stage began)."""
    io.require(path / RECORD)
    record = io.read_json(path / RECORD)
    for recorded, value in record["params"].items():
        if key == recorded or key.startswith(recorded + "."):
            return _lookup(value, key[len(recorded) + 1 :]) if key != recorded else value
    raise InputError(f"{path / RECORD} does not record params key {key!r}; rebuild it with `dvc repro {layout.producing_stage(path)}`")
