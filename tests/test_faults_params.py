"""Bad params.yaml: refused by check-params and by every stage, with the key, its allowed range and the file's line."""

import dataclasses
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from tiny_project import dvc, merge

from universality.cli import STAGES, main
from universality.params import load_params

REPO = Path(__file__).resolve().parents[1]


def refusal(argv: list[str]) -> str:
    """The one-line error a command exits with."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert isinstance(exit_.value.code, str), f"{argv} did not fail with a message"
    return exit_.value.code


def written(tmp_path: Path, update: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(merge(yaml.safe_load((REPO / "params.yaml").read_text()), update), sort_keys=False))
    return path


def test_the_repository_params_load():
    assert load_params(REPO / "params.yaml").models["toy_a_r2"].seed == 11


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    lines = (REPO / "params.yaml").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  permutations:"))
    lines.insert(first + 1, "  permutations: 5")
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n")
    for argv in (["check-params", "--params", str(path)], ["main_one_to_one", "main", "--params", str(path)]):
        message = refusal(argv)
        assert f"key 'permutations' is given twice in one mapping (first on line {first + 1})" in message
        assert f'in "{path}", line {first + 2}' in message


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"filters": {"min_correlation": 2}}, "filters.min_correlation = 2.0 is out of range; allowed: -1 <= filters.min_correlation < 1"),
        ({"hubs": {"count": -1}}, "hubs.count = -1 is out of range; allowed: 1 <= hubs.count"),
        (
            {"filters": {"non_concept": {"top_k": 0}}},
            "filters.non_concept.top_k = 0 is out of range; allowed: 1 <= filters.non_concept.top_k",
        ),
        ({"models": {"toy_a": {"n_layers": 0}}}, "models.toy_a.n_layers = 0 is out of range; allowed: 1 <= models.toy_a.n_layers"),
        (
            {"subsets": {"ranges": [[1, 1], [2, 100], [50, None]]}},
            "subsets.ranges[1] = [2, 100] and subsets.ranges[2] = [50, None] overlap; make each multiplicity fall in one range",
        ),
        ({"extract": {"batch_windows": 0}}, "extract.batch_windows = 0 is out of range; allowed: 1 <= extract.batch_windows"),
        ({"pairing": {"chunk_size": -4}}, "pairing.chunk_size = -4 is out of range; allowed: 1 <= pairing.chunk_size"),
        ({"nulls": {"permutations": 0}}, "nulls.permutations = 0 is out of range; allowed: 1 <= nulls.permutations"),
        (
            {"token_sets": {"wordnet": {"vocab_size": 3}}},
            "token_sets.wordnet.vocab_size = 3 is out of range; allowed: 258 <= token_sets.wordnet.vocab_size",
        ),
        (
            {"paper": {"replicates": ["main_r2", "main_r2"]}},
            "paper.replicates repeats main_r2 (with paper.main 'main'); each run may be counted once: "
            "list every replicate once, other than the main comparison",
        ),
        (
            {"paper": {"replicates": ["main_r2", "main"]}},
            "paper.replicates repeats main (with paper.main 'main'); each run may be counted once: "
            "list every replicate once, other than the main comparison",
        ),
        (
            {"comparisons": {"main_r3": {"a": "toy_a_r2", "b": "toy_b_r2"}}},
            "paper quotes comparisons 'main_r2' and 'main_r3' as two runs, but both pair sources 'toy_a_r2' and 'toy_b_r2': "
            "a replicate needs sources of its own",
        ),
        (
            {"extract": {"hook": "blocks.{lyr}{layer}"}},
            "extract.hook = 'blocks.{lyr}{layer}' has a placeholder other than {layer} ('lyr'); "
            "write the rest of the hook name out, e.g. blocks.{layer}.hook_resid_post",
        ),
    ],
)
def test_out_of_range_values_are_refused_by_check_params_and_by_a_stage(tmp_path, update, message):
    path = written(tmp_path, update)
    for argv in (["check-params", "--params", str(path)], ["pair", "main", "--params", str(path)]):
        assert refusal(argv) == f"error: params.yaml: {message}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has the CUDA device the test asks for")
@pytest.mark.parametrize("key", ["extract.device", "pairing.device", "nulls.device"])
def test_a_device_this_machine_lacks_is_refused_naming_its_key(tmp_path, monkeypatch, key):
    section, field = key.split(".")
    path = written(tmp_path, {section: {field: "cuda"}})
    monkeypatch.chdir(tmp_path)  # no inputs here: the device is checked before anything is read
    expected = f"error: params.yaml: {key} = 'cuda' but this machine has 0 visible CUDA device(s); set {key}: auto or cpu"
    assert refusal(["check-params", "--params", str(path)]) == expected
    for stage in ("extract", "main_one_to_one", "render"):
        name = [] if STAGES[stage][0] is None else ["toy_a" if stage == "extract" else "main"]
        assert refusal([stage, *name, "--params", str(path)]) == expected


def test_an_anchor_is_refused_because_dvc_exp_run_would_not_change_what_it_shares(tmp_path):
    path = tmp_path / "params.yaml"
    text = (REPO / "params.yaml").read_text().replace("  toy_b:\n    kind: trained\n    model: toy_b\n    tokens: wordnet\n    sae:\n",
                                                       "  toy_b:\n    kind: trained\n    model: toy_b\n    tokens: wordnet\n    sae: &sae_b\n")  # fmt: skip
    assert "&sae_b" in text
    path.write_text(text)
    message = refusal(["check-params", "--params", str(path)])
    assert message.startswith(f"error: {path}: &sae_b shares a value through a YAML anchor, which `dvc exp run -S` does not change")
    assert "write the value out in every entry that uses it" in message


def test_the_readme_example_of_dvc_exp_run_changes_the_knob_it_names_and_no_other(tmp_path):
    """The README's `dvc exp run -S` line, run on the real params.yaml in a one-stage DVC repository that prints the knob."""
    example = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("dvc exp run -S "))
    key, value = example.split()[4].split("=")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "knob.py").write_text("import functools, sys, yaml\n"
                                      "print(functools.reduce(dict.get, sys.argv[1].split('.'), yaml.safe_load(open('params.yaml'))))\n")  # fmt: skip
    stage = {"cmd": f"python knob.py {key} > knob.txt", "deps": ["knob.py"]}
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"knob": stage | {"params": [key], "outs": [{"knob.txt": {"cache": False}}]}}})
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc("init", "-q", cwd=tmp_path)
    dvc("repro", cwd=tmp_path)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"], cwd=tmp_path, check=True)
    before = load_params(tmp_path / "params.yaml")
    dvc("exp", "run", *example.split()[3:5], cwd=tmp_path)
    assert (tmp_path / "knob.txt").read_text().strip() == value
    after = load_params(tmp_path / "params.yaml")
    source = key.split(".")[1]
    changed = dataclasses.replace(before.sources[source], sae=dataclasses.replace(before.sources[source].sae, k=int(value)))
    assert after == dataclasses.replace(before, sources=before.sources | {source: changed})
