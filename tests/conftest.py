from pathlib import Path

import pytest
import yaml

import tiny_project
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
    """A copy of the repository with tiny params (tests/tiny_project.py), built once with `dvc repro`."""
    return tiny_project.build(tmp_path_factory.mktemp("pipeline") / "project")
