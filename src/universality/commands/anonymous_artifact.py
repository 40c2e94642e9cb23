"""Command `anonymous-artifact` (`make anonymous-artifact`): the archive for double-blind review.

The archive holds every file git tracks at HEAD (no history); `.dvc/config` with one remote,
`dvc-remote/` inside the archive, holding every cached output of `dvc.lock` that this
workspace has (and DVC told to work without git); and `params.yaml` with
`anonymous_artifact.authors` emptied. It is refused,
file by file, when any member contains an author's name or address from params.yaml, an
identity from the git history, or the URL of a configured git or DVC remote. Members are
sorted and carry fixed times and owners, so the same commit and cache give the same bytes.
"""

from __future__ import annotations

import gzip
import io as bytes_io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import IO, cast

import yaml

from universality.io import atomic_path
from universality.params.schema import Params

ARCHIVE = Path("build/anonymous-artifact.tar.gz")
ROOT = "universality"  # the folder the archive unpacks into
BUNDLED_REMOTE = "dvc-remote"
BUNDLED_CONFIG = f"""[core]
    analytics = false
    no_scm = true
    remote = bundled
['remote "bundled"']
    url = ../{BUNDLED_REMOTE}
"""
SHORTEST_IDENTITY = 4  # shorter git identities ("ci", "me") would match ordinary text


class AnonymityError(ValueError):
    """A member of the archive names the authors or a remote."""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def forbidden_strings(authors: list[str]) -> list[str]:
    """What no member may contain: the authors, the identities in git's history, every remote's URL."""
    identities = set(git("log", "--format=%an%n%ae%n%cn%n%ce").splitlines()) if git("rev-list", "--all").strip() else set()
    git_remotes = {line.split()[1] for line in git("remote", "-v").splitlines()}
    found = {text.strip() for text in (*authors, *identities, *git_remotes, *dvc_remote_urls())}
    return sorted(text for text in found if len(text) >= SHORTEST_IDENTITY)


def dvc_remote_urls() -> set[str]:
    """The URL of every DVC remote configured here (the repository's config and the local one)."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        return {remote["url"] for remote in repo.config["remote"].values()}


def tracked_files() -> dict[str, bytes]:
    """Every file of HEAD's tree, by path, from `git archive` (the committed bytes, not the work tree's)."""
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=bytes_io.BytesIO(archive)) as tar:
        return {member.name: cast(IO[bytes], tar.extractfile(member)).read() for member in tar.getmembers() if member.isfile()}


def without_authors(params_text: bytes) -> bytes:
    params = yaml.safe_load(params_text)
    params["anonymous_artifact"]["authors"] = []
    return yaml.safe_dump(params, sort_keys=False).encode()


def cached_outputs() -> dict[str, bytes]:
    """The DVC objects of every cached output this workspace has, laid out as a DVC remote."""
    from dvc.repo import Repo

    with tempfile.TemporaryDirectory() as folder:
        with Repo(".", config={"remote": {"bundled": {"url": folder}}}) as repo:
            repo.push(remote="bundled")
        files = sorted(path for path in Path(folder).rglob("*") if path.is_file())
        return {f"{BUNDLED_REMOTE}/{path.relative_to(folder)}": path.read_bytes() for path in files}


def members(authors: list[str], with_cache: bool) -> dict[str, bytes]:
    files = tracked_files()
    files["params.yaml"] = without_authors(files["params.yaml"])
    files[".dvc/config"] = BUNDLED_CONFIG.encode()
    return files | (cached_outputs() if with_cache else {})


def scan(files: dict[str, bytes], forbidden: list[str]) -> list[str]:
    """'member: string' for every forbidden string (case-insensitive) a member contains."""
    needles = [(text, text.lower().encode()) for text in forbidden]
    return [f"{name}: {text}" for name, data in sorted(files.items()) for text, needle in needles if needle in data.lower()]


def write_archive(path: Path, files: dict[str, bytes]) -> None:
    """A reproducible .tar.gz: sorted members, mtime 0, owner root, gzip without a timestamp."""
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{ROOT}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, bytes_io.BytesIO(data))


def build(path: Path, authors: list[str], with_cache: bool) -> dict[str, bytes]:
    """Write the archive to `path`; refuse (AnonymityError listing every hit) if a member names an author or a remote."""
    changed = git("status", "--porcelain", "--untracked-files=no").strip()
    if changed:
        raise AnonymityError(f"the archive holds HEAD, but tracked files have uncommitted changes; commit them first:\n{changed}")
    files = members(authors, with_cache)
    hits = scan(files, forbidden_strings(authors))
    if hits:
        raise AnonymityError(
            "these archive members name an author or a remote; edit them, commit, and build again:\n  " + "\n  ".join(hits)
        )
    write_archive(path, files)
    return files


def run(params: Params) -> None:
    settings = params.anonymous_artifact
    try:
        files = build(ARCHIVE, settings.authors, settings.include_cache)
    except AnonymityError as err:
        sys.exit(f"error: {err}")
    cached = sum(name.startswith(f"{BUNDLED_REMOTE}/") for name in files)
    print(
        f"wrote {ARCHIVE} ({ARCHIVE.stat().st_size / 1e6:.1f} MB): {len(files) - cached} files of HEAD, {cached} cached objects; "
        f"unpack it, then `make pull-cache` fetches from the bundled remote"
    )
