"""Reading the built PDF back: its text, the numbers it prints, and what of the generated sources it lacks."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from universality.errors import InputError

NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")  # unsigned: a minus may print as a hyphen, a dash or U+2212
_MACRO = re.compile(r"\\uvdefine\{([^}]*)\}\{((?:[^{}]|\{,\})*)\}")
_LATEX_ARGUMENTS = re.compile(r"\\(?:multicolumn\{\d+\}\{[^}]*\}|cmidrule(?:\([^)]*\))?\{[^}]*\}|setlength\{[^}]*\}\{[^}]*\})")
_ROW_END = re.compile(r"\\\\\*?\s*$")  # `\\` or `\\*` (no page break after the row)
_NOT_PRINTED = ("\\uvcaption", "(continued)")  # longtable lines whose text is the caption or a page-break note


def pdf_text(pdf: Path) -> str:
    """The PDF's text with its layout kept (one table row per line), words broken at a line end joined again."""
    if shutil.which("pdftotext") is None:
        raise InputError("pdftotext not found: install Debian's poppler-utils (`make setup` does)")
    if not pdf.exists():
        raise FileNotFoundError(f"{pdf} does not exist: build it with `make paper`")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.replace("-\n", "")


def macro_values(numbers_tex: str) -> dict[str, str]:
    """The macros of a generated numbers file, as the text they print."""
    return {key: value.replace("\\%", "%").replace("{,}", ",") for key, value in _MACRO.findall(numbers_tex)}


def printed_parts(value: str) -> list[str]:
    """What a macro's value must show in the PDF's text: all of it, or for a sentence its first and last 40 characters
    (a float may fall in between); whitespace collapsed and hyphens dropped, since a line may break at one."""
    flat = " ".join(value.replace("\\_", "_").split()).replace("-", "")
    return [flat] if len(flat) <= 80 else [flat[:40], flat[-40:]]


PAGE_BREAK_CHARS = 3000  # at most this much text (a page number, a float at the top of the next page) between the halves of a part


def _shown(part: str, flat: str) -> bool:
    """`part` is in the text whole, or split once between two words by a page break (pdftotext's form feed): its first half,
    then within `PAGE_BREAK_CHARS` a form feed and its second half. What lies in between is not read; the sources check
    (`verify.source_mismatches`) holds the sentence itself."""
    if part in flat:
        return True
    for split in (index for index, char in enumerate(part) if char == " "):
        head, tail = part[:split], part[split + 1 :]
        start = flat.find(head)
        while start >= 0:
            gap = flat[start + len(head) : start + len(head) + PAGE_BREAK_CHARS]
            if "\f" in gap and tail in gap[gap.index("\f") :]:
                return True
            start = flat.find(head, start + 1)
    return False


def missing_macros(numbers_tex: str, text: str) -> dict[str, str]:
    """The macros whose value the PDF's text does not show."""
    flat = re.sub(r"[^\S\f]+", " ", text).replace("-", "")  # whitespace collapsed, page breaks kept
    return {key: value for key, value in macro_values(numbers_tex).items() if not all(_shown(part, flat) for part in printed_parts(value))}


def latex_numbers(latex: str) -> list[str]:
    """The numbers a line of LaTeX prints (arguments such as a `\\multicolumn` width are not printed)."""
    return NUMBER.findall(_LATEX_ARGUMENTS.sub(" ", latex).replace("{,}", ""))


def printed_numbers(text: str) -> str:
    """Every number of a text in order, space-separated and padded, for searching runs of numbers."""
    return " " + " ".join(NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3})", "", text))) + " "


def table_rows(table_tex: str) -> list[str]:
    """The printed rows of a generated table: lines ending a row, less the caption and page-break lines of a long table."""
    return [line for line in table_tex.splitlines() if _ROW_END.search(line) and not any(mark in line for mark in _NOT_PRINTED)]


def missing_rows(table_tex: str, numbers: str) -> list[str]:
    """Rows of a generated table whose numbers do not appear, in order and together, among the PDF's numbers."""
    missing = []
    for row in table_rows(table_tex):
        printed = latex_numbers(row)
        if printed and f" {' '.join(printed)} " not in numbers:
            missing.append(row.strip())
    return missing


def overfull_boxes(log: str, tolerance_pt: float) -> list[str]:
    """The overfull box warnings of a LaTeX log that exceed `tolerance_pt`, with their source lines."""
    found = re.findall(r"Overfull \\[hv]box \(([\d.]+)pt too (?:wide|high)\) ([^\n]*)", log)
    return [f"{float(size):.1f}pt too wide {where}" for size, where in found if float(size) > tolerance_pt]
