"""dvc.yaml declares each stage's code dependencies: exactly its import closure, computed from the code."""

from pathlib import Path

import pytest
import yaml

from import_closure import SOURCE_STAGES, stage_closure
from universality import layout
from universality.sources import KINDS, implementation

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "src" / "universality"


def declared_stages(dvc_yaml: dict) -> dict[str, list[str]]:
    """Each stage's dependencies (the `do` template of a foreach stage)."""
    return {name: (spec["do"] if "foreach" in spec else spec)["deps"] for name, spec in dvc_yaml["stages"].items()}


def covered_files(deps: list[str], kind: str | None) -> set[Path]:
    """Package files named by the deps (a directory names every .py file below it)."""
    files: set[Path] = set()
    for dep in deps:
        path = REPO / (dep.replace("${item.kind}", kind) if kind else dep)
        if not path.is_relative_to(PACKAGE_DIR):
            continue
        files |= set(path.rglob("*.py")) if path.is_dir() else {path}
    return files


def check_stage(stage: str, deps: list[str]) -> list[str]:
    """Problems of one stage's deps: closure files not declared, declared files outside every closure."""
    kinds = KINDS if stage in SOURCE_STAGES else (None,)
    problems, union = [], set()
    for kind in kinds:
        closure = stage_closure(stage, kind)
        union |= closure
        declared = covered_files(deps, kind)
        problems += [f"{stage} ({kind or 'any'}) imports {p.relative_to(REPO)} but dvc.yaml does not list it" for p in sorted(closure - declared)]
    declared_any = set().union(*(covered_files(deps, kind) for kind in kinds))
    problems += [f"{stage} lists {p.relative_to(REPO)}, which it never imports" for p in sorted(declared_any - union)]
    return problems


@pytest.fixture(scope="module")
def stages() -> dict[str, list[str]]:
    return declared_stages(yaml.safe_load((REPO / "dvc.yaml").read_text()))


def test_every_stage_declares_exactly_its_import_closure(stages):
    problems = [problem for stage, deps in stages.items() for problem in check_stage(stage, deps)]
    assert not problems, "\n".join(problems)


def test_every_stage_has_a_module(stages):
    not_stages = {"__init__", "verify"}  # `verify` checks the built paper and writes nothing: a command, not a DVC stage
    assert {p.stem for p in (PACKAGE_DIR / "stages").glob("*.py")} - not_stages == set(stages)


def test_a_missing_helper_is_caught(stages):
    deps = [dep for dep in stages["pair"] if dep != "src/universality/pairing/filters.py"]
    assert check_stage("pair", deps) == ["pair (any) imports src/universality/pairing/filters.py but dvc.yaml does not list it"]


def test_a_missing_kind_module_is_caught(stages):
    deps = [dep for dep in stages["model"] if dep != "src/universality/sources/${item.kind}/model.py"]
    assert "model (planted) imports src/universality/sources/planted/model.py but dvc.yaml does not list it" in check_stage("model", deps)


def test_report_code_is_a_dependency_of_rendering_only(stages):
    for stage, deps in stages.items():
        touches_report = any(dep.startswith("src/universality/report") for dep in deps)
        assert touches_report == (stage in ("render", "paper")), stage


def test_dvc_outputs_are_the_layout_paths():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    def outputs(stage: str) -> set[str]:
        spec = stages[stage].get("do", stages[stage])
        entries = spec.get("outs", []) + spec.get("metrics", []) + spec.get("plots", [])
        return {entry if isinstance(entry, str) else next(iter(entry)) for entry in entries}

    key = "${key}"
    assert outputs("tokens") == {str(layout.tokens(key))}
    assert outputs("model") == {str(layout.model(key)), str(layout.model_metrics(key))}
    assert outputs("saes") == {str(layout.saes(key))}
    assert outputs("extract") == {str(layout.activations(key)), str(layout.extract_scratch(key)), str(layout.quality_metrics(key))}
    assert outputs("pair") == {str(layout.pair(key)), str(layout.pair_metrics(key))}
    for stage in ("main_one_to_one", "appendix_buckets"):
        assert {str(Path(out).parent) for out in outputs(stage)} == {str(layout.scored(key, stage))}
    assert {str(Path(out).parent) for out in outputs("collapse")} == {str(layout.collapse(key))}
    assert {str(Path(out).parent) for out in outputs("calibration")} == {str(layout.calibration())}


def test_the_calibration_stage_lists_every_replicate_it_reads(params):
    from universality.stages.calibration import STAGE, replicate_inputs

    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][STAGE]["deps"]
    assert replicate_inputs(params) and set(replicate_inputs(params)) <= set(deps)


def test_every_kind_implements_every_source_stage():
    for kind in KINDS:
        for stage in SOURCE_STAGES:
            assert callable(implementation(kind, stage).build), f"{kind}.{stage}"
