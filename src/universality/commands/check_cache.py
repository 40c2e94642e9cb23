"""Command `check-cache` (`make check-cache`): verify the cached artifacts in this workspace against the manifest.

Every file of every stage output present is hashed and compared with its record in
`results/manifest/`; outputs not pulled are listed, not counted as errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from universality.artifacts.manifest import check_workspace
from universality.params.schema import Params

LOCK_FILE = Path("dvc.lock")


def run(params: Params) -> None:
    if not LOCK_FILE.exists():
        sys.exit(f"error: {LOCK_FILE} does not exist: run check-cache at the repository's root")
    check = check_workspace(yaml.safe_load(LOCK_FILE.read_text())["stages"])
    print(f"verified {check.verified} files ({check.verified_bytes / 1e6:.1f} MB) against results/manifest/")
    for where, stages in sorted(check.machines.items()):
        print(f"  {len(stages)} stage outputs made on {where}")
    if check.not_pulled:
        print(
            f"{len(check.not_pulled)} stage outputs are not in this workspace (fetch them with `dvc pull`): {', '.join(check.not_pulled)}"
        )
    if check.problems:
        sys.exit("error: the cache does not match its manifest:\n  " + "\n  ".join(check.problems))
