"""Stage `paper`: paper/main.pdf from the manuscript and the generated tables, macros and figures."""

from __future__ import annotations

from universality import layout
from universality.params.schema import Params
from universality.report.latexmk import build_pdf


def run(params: Params) -> None:
    """Build paper/main.pdf with latexmk (aux files in build/, outside every dependency)."""
    build_pdf(layout.PAPER_SOURCE, layout.PAPER_PDF, layout.LATEX_BUILD)
