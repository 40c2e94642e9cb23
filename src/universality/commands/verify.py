"""`python -m universality verify` (`make verify`): check the built paper against the results it shows.

It reads every stage's outputs and writes nothing. It fails when
- `dvc status` reports a stage whose outputs are stale;
- a generated LaTeX file differs from what the results files give (a number without a source),
  or a generated file is one that rendering no longer writes;
- the PDF's text lacks a macro's value or the numbers of a generated table's row;
- the LaTeX log reports an overfull box wider than `OVERFULL_TOLERANCE_PT`;
- a results JSON file holds inf or NaN, or a generated LaTeX file prints one.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from pathlib import Path
from typing import Any

from universality import layout
from universality.artifacts import provenance
from universality.params.schema import Params
from universality.report import readback
from universality.report.latex import NonFiniteValue
from universality.stages import render

log = logging.getLogger(__name__)

OVERFULL_TOLERANCE_PT = 1.0


def stale_stages() -> list[str]:
    """`dvc status`: every stage instance whose dependencies or outputs changed since `dvc repro`."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        return [f"`dvc status` reports stage {stage} as changed: run `dvc repro`" for stage in sorted(repo.status())]


def _first_difference(path: str, found: str, expected: str) -> str:
    diff = [
        line
        for line in difflib.unified_diff(expected.splitlines(), found.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    return f"{path} differs from what the results files give (run `dvc repro render`): " + " | ".join(diff[:2])


def source_mismatches(expected: dict[Path, str]) -> list[str]:
    """Generated files that differ from a fresh rendering of the results (`expected`), are missing, or have no source."""
    problems = []
    for path, text in expected.items():
        if not path.exists():
            problems.append(f"{path} is missing: run `dvc repro render`")
        elif path.read_text() != text:
            problems.append(_first_difference(str(path), path.read_text(), text))
    for path in sorted(layout.GENERATED.rglob("*.tex")):
        if path not in expected:
            problems.append(f"{path} has no source: rendering does not write it (delete it, or run `dvc repro render`)")
    return problems


def pdf_mismatches(expected_files: list[Path]) -> list[str]:
    """Macro values and table rows of the generated sources that the PDF's text does not show."""
    text = readback.pdf_text(layout.PAPER_PDF)
    numbers_file = layout.GENERATED / "numbers.tex"
    problems = [f"{layout.PAPER_PDF} does not show \\uv{{{key}}} = {value!r} ({numbers_file})"
                for key, value in readback.missing_macros(numbers_file.read_text(), text).items()]  # fmt: skip
    printed = readback.printed_numbers(text)
    for path in expected_files:
        if path != numbers_file and path.exists():
            problems += [
                f"{layout.PAPER_PDF} does not show this row of {path}: {row}" for row in readback.missing_rows(path.read_text(), printed)
            ]
    return problems


def layout_problems() -> list[str]:
    build_log = layout.LATEX_BUILD / "main.log"
    if not build_log.exists():
        return [f"{build_log} is missing: build the paper with `make paper`"]
    text = build_log.read_text(errors="replace")
    return [f"{build_log}: overfull box {box}" for box in readback.overfull_boxes(text, OVERFULL_TOLERANCE_PT)]


_PRINTED_NON_FINITE = re.compile(r"(?<![\\A-Za-z])[-+]?(inf|nan|infinity)(?![A-Za-z])", re.IGNORECASE)


def _non_finite_paths(value: Any, where: str) -> list[str]:
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where} = {value}"]
    if isinstance(value, dict):
        return [path for key, item in value.items() for path in _non_finite_paths(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [path for index, item in enumerate(value) for path in _non_finite_paths(item, f"{where}[{index}]")]
    return []


def non_finite_problems() -> list[str]:
    """Every inf or NaN in a results JSON file (Python's JSON reader takes them) or printed in a generated LaTeX file."""
    problems = []
    for path in sorted(Path("results").rglob("*.json")):
        for found in _non_finite_paths(json.loads(path.read_text(encoding="utf-8")), "")[:3]:
            problems.append(f"{path} holds a non-finite value ({found.lstrip('.')}): give the quantity a status instead")
    for path in sorted(layout.GENERATED.rglob("*.tex")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _PRINTED_NON_FINITE.search(line):
                problems.append(f"{path}:{number} prints a non-finite value: {line.strip()[:120]}")
    return problems


def run(params: Params) -> None:
    """Every check; all problems are listed before the command fails."""
    try:
        params = render.params_used(params)
        results = render.load_results(params)
    except FileNotFoundError as err:
        raise SystemExit(f"verify: a results file is missing ({err}): build the paper with `make paper` first") from None
    inputs = provenance.input_problems("render", None, params)  # each results folder against its record
    try:
        expected = render.text_outputs(params, results)
    except NonFiniteValue as err:
        raise SystemExit(f"verify: {err}; {non_finite_problems()[:5]}") from None
    problems = stale_stages() + inputs + source_mismatches(expected) + pdf_mismatches(list(expected)) + layout_problems()
    problems += non_finite_problems()
    for problem in problems:
        log.error("%s", problem)
    if problems:
        raise SystemExit(f"verify: {len(problems)} problem(s) in {layout.PAPER_PDF} and its sources (listed above)")
    log.info(
        "verify: %s shows all %d generated files; the sources match the results and dvc status is clean", layout.PAPER_PDF, len(expected)
    )
