"""Bad params.yaml: refused by check-params and by every stage, with the key, its allowed range and the file's line."""

from pathlib import Path

import pytest
import torch
import yaml
from tiny_project import merge

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


def test_the_repository_params_with_their_merge_overrides_load():
    assert load_params(REPO / "params.yaml").models["toy_a_r2"].seed == 11  # `{<<: *toy_a, seed: 11}` overrides, not duplicates


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
