"""The package modules a pipeline stage runs: its import closure, read from the code.

A stage runs as `python -m universality STAGE NAME`: the package, its `__main__`, the CLI and
the stage's module, then everything those import (statically, anywhere in a module), and,
for the stages a source kind implements, that kind's module for the stage, which
`sources.implementation` imports by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

from universality.sources import STAGES as SOURCE_STAGES

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "universality"


def module_file(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imported(module: str) -> set[str]:
    """Package modules that `module` imports, with the packages that importing them runs."""
    tree = ast.parse(module_file(module).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] == PACKAGE and module_file(name) is not None:
                found.update(_with_parents(name))
    return found


def closure(roots: list[str]) -> set[Path]:
    """Files of every package module reachable from `roots` (and the packages they live in)."""
    seen: set[str] = set()
    todo = [parent for root in roots for parent in _with_parents(root)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(_imported(module) - seen)
    return {module_file(module) for module in seen}


def stage_closure(stage: str, kind: str | None = None) -> set[Path]:
    """The files stage `stage` runs (for a source stage, those of source kind `kind`)."""
    roots = [f"{PACKAGE}.__main__", f"{PACKAGE}.stages.{stage}"]
    if stage in SOURCE_STAGES:
        roots.append(f"{PACKAGE}.sources.{kind}.{stage}")
    return closure(roots)
