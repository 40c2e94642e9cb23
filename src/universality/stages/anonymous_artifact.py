"""Command `anonymous-artifact` (`make anonymous-artifact`): the archive for double-blind review.

HEAD's files without git history, remote URLs or author names, and the cached artifacts as a
DVC remote inside it; see `universality.artifacts.anonymous`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from universality.artifacts.anonymous import AnonymityError, build
from universality.params.schema import Params

ARCHIVE = Path("build/anonymous-artifact.tar.gz")


def run(params: Params) -> None:
    settings = params.anonymous_artifact
    try:
        files = build(ARCHIVE, settings.authors, settings.include_cache)
    except AnonymityError as err:
        sys.exit(f"error: {err}")
    cached = sum(name.startswith("dvc-remote/") for name in files)
    print(
        f"wrote {ARCHIVE} ({ARCHIVE.stat().st_size / 1e6:.1f} MB): {len(files) - cached} files of HEAD, {cached} cached objects; "
        f"unpack it, then `make pull-cache` fetches from the bundled remote"
    )
