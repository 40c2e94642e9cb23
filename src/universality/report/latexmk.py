"""Build the manuscript's PDF with latexmk, reproducibly, aux files outside every dependency."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from universality import io
from universality.errors import InputError

log = logging.getLogger(__name__)

SOURCE_DATE_EPOCH = "1700000000"  # fixed dates in the PDF: the same sources give the same bytes


TOOLS = {"latexmk": "latexmk", "pdflatex": "texlive-latex-recommended", "bibtex": "texlive-latex-recommended"}  # tool -> its Debian package


def build_pdf(source: Path, pdf: Path, build: Path) -> None:
    """Run latexmk on `source` with its aux files in `build`, then move the PDF to `pdf` atomically."""
    missing = [f"{tool} (Debian package {package})" for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise InputError(f"not found: {', '.join(missing)}; install them with `make setup` (or apt-get install)")
    env = os.environ | {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "FORCE_SOURCE_DATE": "1"}
    build = build.resolve()
    command = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", f"-outdir={build}", source.name]
    completed = subprocess.run(command, cwd=source.parent, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise InputError(f"latexmk failed on {source}:\n{_failure(completed, build / (source.stem + '.log'))}")
    with io.atomic_path(pdf) as tmp:
        shutil.copyfile(build / f"{source.stem}.pdf", tmp)
    log.info("wrote %s", pdf)


def _failure(completed: subprocess.CompletedProcess, log_file: Path) -> str:
    """Why LaTeX stopped: the error lines of its log (named), or latexmk's own output when no log was written."""
    if log_file.exists():
        lines = log_file.read_text(errors="replace").splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("!")]  # TeX's error lines, with the two after them
        shown = [line for i in starts for line in lines[i : i + 3]][:12] or lines[-12:]
        return "\n".join(shown) + f"\n(the whole log: {log_file})"
    return (completed.stderr or completed.stdout)[-2000:]
