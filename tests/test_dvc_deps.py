"""dvc.yaml declares each stage's code dependencies: exactly its import closure, computed from the code."""

from pathlib import Path

import pytest
import yaml
from import_closure import SOURCE_STAGES, stage_closure, written_dvc_yaml

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
        problems += [
            f"{stage} ({kind or 'any'}) imports {p.relative_to(REPO)} but dvc.yaml does not list it" for p in sorted(closure - declared)
        ]
    declared_any = set().union(*(covered_files(deps, kind) for kind in kinds))
    problems += [f"{stage} lists {p.relative_to(REPO)}, which it never imports" for p in sorted(declared_any - union)]
    return problems


@pytest.fixture(scope="module")
def stages() -> dict[str, list[str]]:
    return declared_stages(yaml.safe_load((REPO / "dvc.yaml").read_text()))


def test_every_stage_declares_exactly_its_import_closure(stages):
    problems = [problem for stage, deps in stages.items() for problem in check_stage(stage, deps)]
    assert not problems, "\n".join(problems)


def test_the_code_blocks_are_the_ones_the_code_gives():
    text = (REPO / "dvc.yaml").read_text(encoding="utf-8")
    assert text == written_dvc_yaml(text), "dvc.yaml's code blocks are out of date: run `make dvc-deps`"


def test_a_stale_code_block_is_caught():
    text = (REPO / "dvc.yaml").read_text(encoding="utf-8")
    stale = text.replace("src/universality/token_sets.py", "src/universality/sources/windows.py", 1)
    assert stale != text and written_dvc_yaml(stale) == text


def test_stages_holds_exactly_the_modules_dvc_yaml_runs(stages):
    assert {p.stem for p in (PACKAGE_DIR / "stages").glob("*.py")} - {"__init__"} == set(stages)
    from universality.cli import COMMANDS, STAGES

    assert set(STAGES) - set(COMMANDS) == set(stages)
    assert {p.stem for p in (PACKAGE_DIR / "commands").glob("*.py")} - {"__init__"} == {c.replace("-", "_") for c in COMMANDS}


def test_a_missing_helper_is_caught(stages):
    deps = [dep for dep in stages["pair"] if dep != "src/universality/token_sets.py"]
    assert check_stage("pair", deps) == ["pair (any) imports src/universality/token_sets.py but dvc.yaml does not list it"]


def test_a_package_folder_stands_only_for_modules_the_stage_imports(stages):
    deps = [*stages["pair"], "src/universality/similarity"]
    assert "pair lists src/universality/similarity/nulls.py, which it never imports" in check_stage("pair", deps)


def test_a_missing_kind_module_is_caught(stages):
    deps = [dep for dep in stages["model"] if dep != "src/universality/sources/${item.kind}/model.py"]
    assert "model (planted) imports src/universality/sources/planted/model.py but dvc.yaml does not list it" in check_stage("model", deps)


def test_report_code_is_a_dependency_of_rendering_only(stages):
    for stage, deps in stages.items():
        touches_report = any(dep.startswith("src/universality/report") for dep in deps)
        assert touches_report == (stage in ("render", "paper")), stage


def test_dvc_outputs_are_the_layout_paths():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]

    def outputs(stage: str, cached: bool) -> set[str]:
        """The stage's outputs that DVC caches (cached=True) or leaves to git."""
        spec = stages[stage].get("do", stages[stage])
        entries = spec.get("outs", []) + spec.get("metrics", []) + spec.get("plots", [])
        is_cached = {entry if isinstance(entry, str) else next(iter(entry)): isinstance(entry, str) or next(iter(entry.values())).get("cache", True)
                     for entry in entries}  # fmt: skip
        return {path for path, flag in is_cached.items() if flag == cached}

    for stage in stages:
        key = "${key}" if "foreach" in stages[stage] else None
        assert outputs(stage, cached=True) == {str(path) for path in layout.cached_outputs(stage, key)}, stage
        if layout.cached_outputs(stage, key):
            assert str(layout.manifest_record(stage, key)) in outputs(stage, cached=False), stage
    key = "${key}"
    assert outputs("model", cached=False) == {str(layout.model_metrics(key)), str(layout.manifest_record("model", key))}
    assert outputs("extract", cached=False) == {
        str(layout.extract_scratch(key)),
        str(layout.quality_metrics(key)),
        str(layout.manifest_record("extract", key)),
    }
    for stage in ("pair", "main_one_to_one", "collapse", "sensitivity", "subspaces"):
        assert outputs(stage, cached=False) == {str(layout.stage_metrics(key, stage)), str(layout.manifest_record(stage, key))}, stage
    assert outputs("calibration", cached=False) == {str(layout.calibration_metrics()), str(layout.manifest_record("calibration", None))}
    # every comparison the paper quotes: its roles by name, its replicates (a list) spelled out
    replicates = yaml.safe_load((REPO / "params.yaml").read_text())["paper"]["replicates"]
    roles = ("main", "skyline", "floor", "shuffled", "planted_related", "planted_unrelated")
    headlines = {str(layout.headline(f"${{paper.{role}}}")) for role in roles} | {str(layout.headline(name)) for name in replicates}
    assert outputs("render", cached=False) == {str(layout.GENERATED)} | headlines


@pytest.mark.parametrize(
    ("path", "stage"),
    [("data/tokens/wordnet/tokens.safetensors", "tokens@wordnet"), ("data/models/toy_a", "model@toy_a"), ("data/toy_b/saes/L1", "saes@toy_b"),
     ("data/toy_b/activations/L2.safetensors", "extract@toy_b"), ("results/toy_a/quality.json", "extract@toy_a"),
     ("results/models/toy_b.json", "model@toy_b"), ("results/main/pair/summary.json", "pair@main"), ("results/main/pair_metrics.json", "pair@main"),
     ("results/floor/main_one_to_one/results.json", "main_one_to_one@floor"), ("results/calibration/results.json", "calibration"),
     ("results/manifest/extract/toy_a.json", "extract@toy_a"), ("results/manifest/calibration.json", "calibration"),
     ("paper/generated/main/one_to_one.tex", "render"), ("paper/generated/figures/heatmap.pdf", "render"),
     ("results/main/collapse_metrics.json", "collapse@main"), ("results/calibration_metrics.json", "calibration"), ("results/main/pair_metrics.json", "pair@main"), ("paper/main.pdf", "paper"), ("README.md", None),
     ("results/skyline/headline.json", "render")],
)  # fmt: skip
def test_every_layout_path_names_the_stage_that_writes_it(path, stage):
    assert layout.producing_stage(path) == stage


def test_the_calibration_stage_lists_every_replicate_it_reads(params):
    from universality.stages.calibration import STAGE, replicate_inputs

    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][STAGE]["deps"]
    assert replicate_inputs(params) and set(replicate_inputs(params)) <= set(deps)


def test_every_kind_implements_every_source_stage():
    for kind in KINDS:
        for stage in SOURCE_STAGES:
            assert callable(implementation(kind, stage).build), f"{kind}.{stage}"
