"""The package modules a pipeline stage runs: its import closure, read from the code.

A stage runs as `python -m universality STAGE NAME`: the package, its `__main__`, the CLI and
the stage's module, then everything those import (statically, anywhere in a module), and,
for the stages a source kind implements, that kind's module for the stage, which
`sources.implementation` imports by name.

The same import graph, read package by package, is what `tests/test_structure.py` checks for
cycles; and `python tests/import_closure.py` (`make dvc-deps`) writes dvc.yaml's code blocks
from the closures.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import yaml

from universality.sources import KINDS
from universality.sources import STAGES as SOURCE_STAGES

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "universality"


def module_file(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _existing_file(module: str) -> Path:
    path = module_file(module)
    assert path is not None, f"no package module {module}"
    return path


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imported(module: str) -> set[str]:
    """Package modules that `module` imports, with the packages that importing them runs."""
    tree = ast.parse(_existing_file(module).read_text(encoding="utf-8"))
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
    return {_existing_file(module) for module in seen}


def package_of(module: str) -> str:
    """The package a module belongs to: its first name under the package (`pairing`, `io`, `stages`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph() -> dict[str, set[str]]:
    """Which packages each package imports (statically), read from every module of the package."""
    graph: dict[str, set[str]] = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = package_of(module)
        imported = {package_of(name) for name in _imported(module) if name != PACKAGE}
        graph.setdefault(source, set()).update(imported - {source})
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted: the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def stage_closure(stage: str, kind: str | None = None) -> set[Path]:
    """The files stage `stage` runs (for a source stage, those of source kind `kind`)."""
    roots = [f"{PACKAGE}.__main__", f"{PACKAGE}.stages.{stage}"]
    if stage in SOURCE_STAGES:
        roots.append(f"{PACKAGE}.sources.{kind}.{stage}")
    return closure(roots)


# --- dvc.yaml's code dependencies, written from the closures -------------------------------------

REPO = SRC.parent
CODE_COMMENT = "# code: the stage's import closure (written by `make dvc-deps`, checked by tests/test_dvc_deps.py)"
KIND_TEMPLATE = "src/universality/sources/${item.kind}/%s.py"


def _compressed(files: set[Path]) -> list[str]:
    """`files` as dvc.yaml deps: a package folder all of whose modules are in `files` is one entry."""
    entries: list[Path] = []
    covered: set[Path] = set()
    for package in sorted((path.parent for path in (SRC / PACKAGE).rglob("__init__.py")), key=lambda p: len(p.parts)):
        modules = set(package.rglob("*.py"))
        if package != SRC / PACKAGE and modules <= files and not modules <= covered:
            entries.append(package)
            covered |= modules
    entries += sorted(files - covered)
    return [path.relative_to(REPO).as_posix() for path in entries]


def code_deps(stage: str) -> list[str]:
    """The code entries of `stage` in dvc.yaml: its module, its kind's module (source stages), then the rest, sorted."""
    kinds = KINDS if stage in SOURCE_STAGES else (None,)
    files = set().union(*(stage_closure(stage, kind) for kind in kinds))
    template = []
    if stage in SOURCE_STAGES:
        files -= {module_file(f"{PACKAGE}.sources.{kind}.{stage}") for kind in KINDS}
        template = [KIND_TEMPLATE % stage]
    module = f"src/{PACKAGE}/stages/{stage}.py"
    return [module, *template, *sorted(entry for entry in _compressed(files) if entry != module)]


WIDTH = 140  # the line length the code block is wrapped at
_PLAIN = re.compile(r"[A-Za-z0-9_./-]+")


def _quoted(item: str) -> str:
    return item if _PLAIN.fullmatch(item) else json.dumps(item)  # `${...}` needs quotes in a flow list


def _flow_lines(items: list[str], indent: str, last: str) -> list[str]:
    """`items` as lines of a YAML flow sequence packed up to WIDTH, the last one ending in `last`."""
    pieces = [_quoted(item) + ("," if index < len(items) - 1 else last) for index, item in enumerate(items)]
    lines, line = [], ""
    for piece in pieces:
        if line and len(indent) + len(line) + 1 + len(piece) > WIDTH:
            lines.append(indent + line)
            line = ""
        line += (" " if line else "") + piece
    return [*lines, indent + line]


def written_dvc_yaml(text: str) -> str:
    """dvc.yaml with every stage's deps as one flow list: its data dependencies one a line, then its code block."""
    declared = yaml.safe_load(text)["stages"]
    lines, out, stage = text.splitlines(), [], None
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if indent == 2 and stripped[:-1] in declared:
            stage = stripped[:-1]
        if stage and stripped.startswith("deps:"):
            end = index + 1
            while end < len(lines) and lines[end].strip() and len(lines[end]) - len(lines[end].lstrip()) > indent:
                end += 1
            spec = declared[stage]
            data = [_quoted(dep) for dep in spec.get("do", spec)["deps"] if not dep.startswith("src/")]
            pad = " " * indent
            head = [f"{pad}{'deps: [' if i == 0 else '       '}{dep}," for i, dep in enumerate(data)] or [pad + "deps: ["]
            out += [*head, f"{pad}       {CODE_COMMENT}", *_flow_lines(code_deps(stage), pad + "       ", "]")]
            index = end
            continue
        out.append(line)
        index += 1
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # `make dvc-deps`: rewrite dvc.yaml's code blocks from the code
    path = REPO / "dvc.yaml"
    path.write_text(written_dvc_yaml(path.read_text(encoding="utf-8")), encoding="utf-8")
