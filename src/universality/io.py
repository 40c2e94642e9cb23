"""Atomic, pickle-free file I/O: JSON, safetensors, parquet, and content hashes.

Every writer goes through a temporary file in the destination directory followed by
`os.replace`, so a killed process never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from universality.layout import missing_message


def require(path: Path) -> None:
    """Stop with the commands that fetch or build `path` when it is not there."""
    if not path.exists():
        raise FileNotFoundError(missing_message(path))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


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
    return json.loads(path.read_text(encoding="utf-8"))


METADATA_KEY = "meta"


def write_tensors(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, Any] | None = None) -> None:
    """Tensors to safetensors; `metadata` goes into the header as one sorted JSON string.

    (safetensors writes header metadata in hash-map order, which varies between runs; a
    single key keeps the file's bytes reproducible.)
    """
    header = {METADATA_KEY: json.dumps(metadata, sort_keys=True)} if metadata else None
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=header)


def read_tensor_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    require(path)
    with safe_open(str(path), framework="numpy") as handle:
        return json.loads((handle.metadata() or {}).get(METADATA_KEY, "{}"))


def read_tensors(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    require(path)
    return load_file(str(path))


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


def sha256_arrays(*arrays: np.ndarray) -> str:
    """Hash of array contents, dtypes and shapes (the token-set identity)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
