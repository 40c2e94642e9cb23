"""Atomic, pickle-free file I/O: JSON, safetensors, parquet, and content hashes.

Every writer goes through a temporary file in the destination directory followed by
`os.replace`, so a killed process never leaves a half-written file under the final name
(`remove_leftovers` deletes the temporary files of a killed run). A safetensors file written
here carries the sha256 of its tensors in its header; reading checks the header's structure
before safetensors parses the file (a pickle, a truncated file or any other format is refused
unread) and the checksum after.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from universality.errors import InputError
from universality.layout import missing_message
from universality.restore import damaged_message

TEMPORARY_SUFFIX = ".tmp"  # `.<name>.<random>.tmp`: a file being written; `remove_leftovers` deletes those of killed runs


def require(path: Path) -> None:
    """Stop with the commands that fetch or build `path` when it is not there."""
    if not path.exists():
        raise FileNotFoundError(missing_message(path))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; if the block succeeds it replaces `path` whole.

    The old folder is renamed aside, the new one renamed in, the old one deleted: a crash leaves
    the old complete folder, the new complete folder, or neither, and a temporary folder that
    `remove_leftovers` deletes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX))
    aside = None
    try:
        yield staging
        if path.exists():
            aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX))
            os.replace(path, aside / path.name)
        try:
            os.replace(staging, path)
        except BaseException:
            if aside is not None:
                os.replace(aside / path.name, path)  # the old set back in place
            raise
    finally:
        for folder in (staging, aside):
            if folder is not None and folder.exists():
                shutil.rmtree(folder)


LOCKS = Path(tempfile.gettempdir()) / "universality-locks"  # outside the checkout: a folder dependency must not see them


@contextlib.contextmanager
def exclusive(path: Path, who: str) -> Iterator[None]:
    """Hold this machine's lock on output `path` (a file in LOCKS named by its absolute path's hash) while `who` writes it;
    refuse when another process holds it, before this one deletes or writes anything."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    lock = LOCKS / f"{hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:16]}.lock"
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{who} is already running in this checkout (another process holds the lock of {path}): "
                             "wait for it to finish, then rerun if you still need to") from None  # fmt: skip
        yield  # the lock goes with the file handle, also when the process is killed


def writable_problem(path: Path) -> str | None:
    """Why `path` (a file or folder an output replaces) cannot be replaced here, or None."""
    parent = next(folder for folder in path.absolute().parents if folder.exists())
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only or immutable: make it writable (`chmod u+w`, or `chattr -i` for an immutable file)"
    if not os.access(parent, os.W_OK):
        return f"{parent} is read-only: make it writable"
    return None


def remove_leftovers(path: str | Path) -> list[Path]:
    """Delete the temporary files and folders that killed writers left beside `path` (and inside it); return them."""
    path = Path(path)
    pattern = f".{path.name}.*{TEMPORARY_SUFFIX}"
    found = sorted(path.parent.glob(pattern)) + (sorted(path.rglob(f".*{TEMPORARY_SUFFIX}")) if path.is_dir() else [])
    for leftover in found:
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    return found


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def dumps_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, fixed indentation, trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2, default=_json_default) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, dumps_json(data))


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    require(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(damaged_message(path, f"is not valid JSON ({err})")) from None


METADATA_KEY = "meta"
CHECKSUM_KEY = "tensors_sha256"  # in the metadata: the names, dtypes, shapes and bytes of every tensor
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


def write_tensors(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, Any] | None = None) -> None:
    """Tensors to safetensors, with `metadata` and the tensors' checksum in the header as one sorted JSON string.

    (safetensors writes header metadata in hash-map order, which varies between runs; a
    single key keeps the file's bytes reproducible.)
    """
    tensors = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    header = {METADATA_KEY: json.dumps((metadata or {}) | {CHECKSUM_KEY: sha256_tensors(tensors)}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def _safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, after checking that the file is one and is whole; nothing is unpickled."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        raw = handle.read(length) if 0 < length <= min(size - 8, MAX_HEADER_BYTES) else b""
    try:
        header = json.loads(raw)
        described = 8 + len(raw) + max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        what = "is a pickle" if prefix[:1] == b"\x80" else "is not a safetensors file, or is truncated"
        raise InputError(damaged_message(path, f"{what} ({size} bytes; it was not loaded)")) from None
    if described != size:
        raise InputError(
            damaged_message(
                path, f"is truncated or padded: its header describes {described} bytes, the file has {size} (it was not loaded)"
            )
        )
    return header


def read_tensor_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    require(path)
    metadata = json.loads((_safetensors_header(path).get("__metadata__") or {}).get(METADATA_KEY, "{}"))
    return {key: value for key, value in metadata.items() if key != CHECKSUM_KEY}


def read_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a file `write_tensors` wrote, refused when the file is not safetensors or its checksum disagrees."""
    path = Path(path)
    require(path)
    expected = json.loads((_safetensors_header(path).get("__metadata__") or {}).get(METADATA_KEY, "{}")).get(CHECKSUM_KEY)
    tensors = load_file(str(path))
    if expected is None:
        raise InputError(damaged_message(path, "carries no checksum, so this pipeline did not write it"))
    if sha256_tensors(tensors) != expected:
        raise InputError(damaged_message(path, "is corrupted: its tensors do not match the checksum in its header"))
    return tensors


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_parquet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    require(path)
    return pd.read_parquet(path)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tensors(tensors: dict[str, np.ndarray]) -> str:
    """Hash of named tensors: names, dtypes, shapes and contents, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode() + b"\0" + sha256_arrays(tensors[name]).encode())
    return digest.hexdigest()


def sha256_arrays(*arrays: np.ndarray) -> str:
    """Hash of array contents, dtypes and shapes (the token-set identity)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
