"""End to end: `dvc repro` on tiny params in a temporary copy (the `project` fixture) builds a PDF holding the numbers."""

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_project import dvc, merge, tools_env


def changed_stages(project: Path) -> set[str]:
    """Stage instances `dvc status` reports as changed."""
    status = yaml.safe_load(dvc("status", "--json", cwd=project)) or {}
    return set(status)


@contextlib.contextmanager
def edited_params(project: Path, update: dict):
    """The project's params.yaml with `update` merged in, restored afterwards."""
    path = project / "params.yaml"
    original = path.read_text()
    path.write_text(yaml.safe_dump(merge(yaml.safe_load(original), update), sort_keys=False))
    try:
        yield
    finally:
        path.write_text(original)


def same_json(a, b) -> bool:
    """Equal as JSON text: every float to the bit, NaN equal to NaN."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def make_verify(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "verify"], cwd=project, env=tools_env(), capture_output=True, text=True)


@contextlib.contextmanager
def tampered(path: Path, edit):
    """`path` with its text replaced by `edit(text)`, restored afterwards."""
    original = path.read_text()
    path.write_text(edit(original))
    try:
        yield
    finally:
        path.write_text(original)


def _another_score(table: str) -> str:
    """The table with its first three-decimal score cell changed."""
    score = re.search(r"(?<=& )-?\d\.\d{3}(?= &)", table)
    assert score is not None, "the table has no three-decimal score cell"
    replacement = "0.123" if score.group() != "0.123" else "0.321"
    return table[: score.start()] + replacement + table[score.end() :]


def _another_rsa(results: str) -> str:
    records = json.loads(results)
    scored = next(record for record in records if record["status"] == "ok")
    scored["rsa"]["observed"] += 0.5
    return json.dumps(records)


@pytest.mark.slow
def test_dvc_repro_builds_the_paper_from_pipeline_numbers(project):
    from universality.report.readback import macro_values, missing_macros, pdf_text

    numbers_tex = (project / "paper/generated/numbers.tex").read_text()
    numbers = macro_values(numbers_tex)
    assert len(numbers) >= 40
    assert missing_macros(numbers_tex, pdf_text(project / "paper" / "main.pdf")) == {}
    assert numbers["permutations"] == "50" and numbers["comparison"] == "main"
    assert numbers["n-layer-pairs"] == "6" and numbers["vocab-size"] == "512"
    planted = yaml.safe_load((project / "results/planted_related/main_one_to_one/results.json").read_text())
    assert numbers["planted-related-total"] == str(sum(record["n"] for record in planted))

    metrics = yaml.safe_load((project / "results/main/main_one_to_one_metrics.json").read_text())
    assert f"{max(m['svcca'] for m in metrics.values() if 'svcca' in m):.3f}" == numbers["svcca-max"]
    assert "Data and pipelines are up to date" in dvc("repro", cwd=project)


@pytest.mark.slow
def test_make_verify_passes_on_the_build_and_fails_on_a_changed_source_or_result(project):
    passed = make_verify(project)
    assert passed.returncode == 0, passed.stderr[-3000:]
    table = project / "paper/generated/main/one_to_one.tex"
    with tampered(table, _another_score):
        failed = make_verify(project)
    assert failed.returncode != 0
    assert "paper/generated/main/one_to_one.tex differs from what the results files give" in failed.stderr
    assert "paper/main.pdf does not show this row of paper/generated/main/one_to_one.tex" in failed.stderr
    with tampered(project / "results/main/main_one_to_one/results.json", _another_rsa):
        failed = make_verify(project)
    assert failed.returncode != 0
    assert "paper/generated/main/one_to_one.tex differs from what the results files give" in failed.stderr
    assert "`dvc status` reports stage main_one_to_one@main as changed" in failed.stderr
    assert "results/main/main_one_to_one does not match its provenance.json (results.json)" in failed.stderr
    assert make_verify(project).returncode == 0  # restored: nothing else was touched


def score_main_subsets_twice() -> None:
    """Print how often `compare` runs when each layer pair's 1-1 subset is listed twice, fresh and with main's records."""
    from universality import layer_pairs, layout
    from universality.pairing.subsets import one_to_one
    from universality.params import load_params
    from universality.similarity import scoring
    from universality.similarity.nulls import compare

    params = load_params("params.yaml")
    calls = []

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return compare(*args, **kwargs)

    def twice(kept, edges):
        return [one_to_one(kept, params.subsets.one_to_one, edges)] * 2

    scoring.compare = counted
    records, _ = layer_pairs.score_subsets(params, "main", twice)
    fresh_calls = len(calls)
    reused, _ = layer_pairs.score_subsets(params, "main", twice, scored=layer_pairs.scored_in(layout.scored("main", "main_one_to_one")))
    print(json.dumps({"fresh_calls": fresh_calls, "reused_calls": len(calls) - fresh_calls, "records": records, "reused": reused}))


@pytest.mark.slow
def test_a_subset_is_scored_once_within_and_across_stages(project):
    """Listed twice, a subset is scored once; one that another stage scored is taken from that stage's results."""
    from universality.numerics import PINNED
    from universality.params import load_params

    # in a process of its own, on the stages' pinned kernels, so its scores can equal the stage's to the bit
    env = tools_env(PINNED | {"PYTHONPATH": str(Path(__file__).parent)})
    script = "import test_pipeline; test_pipeline.score_main_subsets_twice()"
    ran = subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    scored = json.loads(ran.stdout.splitlines()[-1])
    records = scored["records"]
    assert scored["fresh_calls"] == len(load_params(project / "params.yaml").layer_pairs("main"))
    assert same_json(records[0::2], records[1::2]) and scored["reused_calls"] == 0 and same_json(scored["reused"], records)
    assert same_json(records[0::2], json.loads((project / "results/main/main_one_to_one/results.json").read_text()))


@pytest.mark.slow
def test_editing_report_code_invalidates_only_rendering(project):
    module = project / "src/universality/report/tables.py"
    original = module.read_text()
    module.write_text(original + "\n# an edit\n")
    try:
        # the paper stage depends on the rendered files, so it re-runs only if they change
        assert changed_stages(project) == {"render"}
    finally:
        module.write_text(original)


@pytest.mark.slow
def test_one_sources_sae_setting_invalidates_only_that_sources_saes(project):
    with edited_params(project, {"sources": {"toy_b": {"sae": {"k": 3}}}}):
        # dvc status names the stages whose own inputs changed (extract records the source's spec); their outputs then invalidate the rest
        assert changed_stages(project) == {"saes@toy_b", "extract@toy_b", "pair@main", "pair@shuffled"}


@pytest.mark.slow
def test_adding_a_comparison_adds_stages_and_reruns_none_of_the_others(project):
    pair = {"a": "planted_b_related", "b": "planted_b_unrelated", "tokens": "planted", "layers": "all", "shuffle_seed": None, "buckets": True,
            "sensitivity": False}  # fmt: skip
    extra = {"comparisons": {"planted_b_pair": pair}}
    with edited_params(project, extra):
        stages = ("pair", "main_one_to_one", "appendix_buckets", "collapse", "sensitivity", "subspaces")
        assert changed_stages(project) == {f"{stage}@planted_b_pair" for stage in stages}


@pytest.mark.slow
def test_the_papers_setting_in_the_sensitivity_grid_and_the_subspaces_reproduces_the_main_scores(project):
    main = {(r["layer_a"], r["layer_b"]): r for r in json.loads((project / "results/main/main_one_to_one/results.json").read_text())}
    grid = json.loads((project / "results/main/sensitivity/results.json").read_text())
    baseline = [r for r in grid if r["baseline"]]
    assert {r["group"] for r in baseline} == {"rule", "direction", "min_correlation", "non_concept", "held_out", "tokens"}
    for record in baseline:
        expected = main[record["layer_a"], record["layer_b"]]
        assert record["pairs_digest"] == expected["pairs_digest"] and record["partner_agreement"] == 1.0
        if expected["status"] == "ok":
            assert record["rsa"] == expected["rsa"] and record["svcca"] == expected["svcca"]
    split = json.loads((project / "results/main/subspaces/results.json").read_text())
    assert split["status"] == "ok" and len(split["grid"]) == len(split["categories"]) * len(main)
    for record in split["identity"]:
        expected = main[record["layer_a"], record["layer_b"]]
        assert record["n"] == expected["n"] and record["all"]["pairs_digest"] == expected["pairs_digest"]
        if expected["status"] == "ok":
            assert record["all"]["rsa"] == expected["rsa"]
    assert json.loads((project / "results/skyline/sensitivity/results.json").read_text()) == []  # sensitivity: false


@pytest.mark.slow
def test_calibration_reads_skyline_floor_and_replicates_from_their_comparisons(project):
    calibration = json.loads((project / "results/calibration/results.json").read_text())
    scored = {name: {(r["layer_a"], r["layer_b"]): r for r in json.loads((project / f"results/{name}/main_one_to_one/results.json").read_text())
                     if r["status"] == "ok"} for name in ("main", "skyline", "floor", "main_r2", "main_r3")}  # fmt: skip
    assert [(r["layer_a"], r["layer_b"]) for r in calibration["layer_pairs"]] == sorted(scored["main"])
    for row in calibration["layer_pairs"]:
        key, rsa = (row["layer_a"], row["layer_b"]), row["metrics"]["rsa"]
        assert rsa["observed"] == scored["main"][key]["rsa"]["observed"]
        skyline, floor = scored["skyline"].get((key[0], key[0])), scored["floor"].get(key)
        assert rsa["skyline"] == (skyline["rsa"]["observed"] if skyline else None)
        assert rsa["floor"] == (floor["rsa"]["observed"] if floor else None)
        assert row["n_seeds"] == [scored[name][key]["n"] if key in scored[name] else None for name in ("main", "main_r2", "main_r3")]


@pytest.mark.slow
def test_the_floor_is_untrained_and_the_shuffled_windows_break_alignment(project):
    losses = {name: json.loads((project / f"results/models/{name}.json").read_text())["loss"] for name in ("toy_b", "toy_b_untrained")}
    assert losses["toy_b_untrained"] > losses["toy_b"] + 0.5  # vocabulary 512: ln 512 = 6.2 nats at initialisation
    shuffled = json.loads((project / "results/shuffled/pair/summary.json").read_text())
    aligned = json.loads((project / "results/main/pair/summary.json").read_text())
    assert all(s["n_tokens"] + s["shuffled_windows"]["tokens_dropped"] == aligned[key]["n_tokens"] for key, s in shuffled.items())
    assert json.loads((project / "results/shuffled/appendix_buckets/results.json").read_text()) == []  # buckets: false
    assert json.loads((project / "results/main/appendix_buckets/results.json").read_text())
    metrics = json.loads((project / "results/main/pair_metrics.json").read_text())
    assert set(metrics) == set(aligned) and all(
        m["one_to_one_n"] == aligned[k]["one_to_one"]["assignment"]["n"] for k, m in metrics.items()
    )


def test_dvc_metrics_show_prints_one_narrow_row_per_model_and_quoted_comparison_with_its_scale(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    lines = [line for line in dvc("metrics", "show", cwd=project).splitlines() if line.strip()]
    scale = ["dead", "max_m", "mnn", "n_per_d", "unique"]  # README "Scale"
    assert lines[0].split() == ["Path", *sorted(["layer_pairs", "loss", "n", "parameters", "rsa", "scored", "svcca", *scale])]
    roles = ("main", "skyline", "floor", "shuffled", "planted_related", "planted_unrelated")
    quoted = {params["paper"][role] for role in roles} | set(params["paper"]["replicates"])
    rows = {line.split()[0] for line in lines[1:]}
    assert rows == {f"results/{name}/headline.json" for name in quoted} | {f"results/models/{name}.json" for name in params["models"]}
    assert max(map(len, lines)) <= 160  # a terminal's width, not 14,633 characters
