import os
from pathlib import Path

import pytest
import tiny_project
import yaml

from universality.params import parse_params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def params_dict() -> dict:
    """The repository's params.yaml as a plain mapping (a fresh copy per test)."""
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture
def params(params_dict):
    return parse_params(params_dict)


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """A copy of the repository with tiny params (tests/tiny_project.py), built once per run with `dvc repro`.

    Under xdist the first worker that asks builds it in the run's shared temporary folder and
    every worker tests a copy of its own, so the tests that edit it never meet."""
    own = tmp_path_factory.mktemp("pipeline") / "project"
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return tiny_project.build(own)
    return tiny_project.copy_of(tiny_project.build_once(tmp_path_factory.getbasetemp().parent / "tiny_project"), own)


@pytest.fixture
def built(project, tmp_path) -> Path:
    """A copy of the built tiny project that a test may damage."""
    return tiny_project.copy_of(project, tmp_path / "project")
