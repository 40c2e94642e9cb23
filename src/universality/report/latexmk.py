"""Build the manuscript's PDF with latexmk, reproducibly, aux files outside every dependency."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from universality import io

log = logging.getLogger(__name__)

SOURCE_DATE_EPOCH = "1700000000"  # fixed dates in the PDF: the same sources give the same bytes


def build_pdf(source: Path, pdf: Path, build: Path) -> None:
    """Run latexmk on `source` with its aux files in `build`, then move the PDF to `pdf` atomically."""
    if shutil.which("latexmk") is None:
        raise RuntimeError("latexmk not found: run `make setup` (installs latexmk and TeX Live from Debian)")
    env = os.environ | {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "FORCE_SOURCE_DATE": "1"}
    build = build.resolve()
    command = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", f"-outdir={build}", source.name]
    completed = subprocess.run(command, cwd=source.parent, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        log.error("%s", completed.stdout[-4000:])
        raise RuntimeError(f"latexmk failed on {source}; see {build / 'main.log'}")
    with io.atomic_path(pdf) as tmp:
        shutil.copyfile(build / "main.pdf", tmp)
    log.info("wrote %s", pdf)
