"""End to end: `dvc repro` on tiny params in a temporary copy builds a PDF holding the numbers."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "synthetic": {
        "experiment": "synthetic",
        "synthetic": {
            "n_tokens": 3000,
            "n_shared": 24,
            "n_private": 8,
            "models": {"a": {"d_model": 16, "d_sae": 48, "k": 4}, "b": {"d_model": 24, "d_sae": 64, "k": 4}},
            "sae_training": {"training_samples": 100_000, "batch_size": 1024, "lr": 0.003},
        },
        "nulls": {"permutations": 50, "size_matched_draws": 20, "ci_draws": 20},
    },
    "toy": {
        "experiment": "toy",
        "toy": {
            "corpus": {"wordnet_dir": "/usr/share/wordnet", "vocab_size": 512, "context_length": 32, "analysis_windows": 96},
            "models": {
                "a": {"n_layers": 2, "d_model": 16, "n_heads": 2, "d_mlp": 64, "seed": 1},
                "b": {"n_layers": 3, "d_model": 24, "n_heads": 2, "d_mlp": 96, "seed": 2},
            },
            "lm_training": {"epochs": 1, "max_steps": 30, "batch_size": 16, "lr": 0.003, "warmup_steps": 5, "weight_decay": 0.01},
            "saes": {"a": {"d_sae": 64, "k": 4}, "b": {"d_sae": 96, "k": 4}},
            "sae_training": {"training_tokens": 40_000, "batch_size": 512, "lr": 0.003, "store_batch_windows": 16, "buffer_batches": 32},
        },
        "extract": {"chunk_windows": 32, "hook_check_windows": 32},
        "filters": {
            "min_correlation": 0.1,
            "non_concept": {"enabled": True, "top_k": 5, "token_classes": ["special", "whitespace", "punctuation"], "max_share": 0.5, "min_overlap": 1},
            "held_out": {"enabled": True, "fraction": 0.25, "min_correlation": 0.05},
        },
        "subsets": {"one_to_one": "assignment"},  # the largest 1-1 sets at this tiny size
        "nulls": {"permutations": 50, "size_matched_draws": 20, "ci_draws": 20},
    },
}


def copy_project(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def shrink_params(path: Path, experiment: str) -> None:
    params = yaml.safe_load(path.read_text())
    for section, values in TINY[experiment].items():
        params[section] = values if not isinstance(values, dict) else params[section] | values
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def dvc(*args: str, cwd: Path) -> str:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def macro_values(numbers_tex: str) -> dict[str, str]:
    pattern = r"\\uvdefine\{([^}]*)\}\{((?:[^{}]|\{,\})*)\}"
    return {key: value.replace("\\%", "%").replace("{,}", ",") for key, value in re.findall(pattern, numbers_tex)}


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["toy", "synthetic"])
def test_dvc_repro_builds_the_paper_from_pipeline_numbers(tmp_path, experiment):
    project = tmp_path / "project"
    copy_project(project)
    shrink_params(project / "params.yaml", experiment)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    for stale in ("paper/generated", "figures"):
        shutil.rmtree(project / stale, ignore_errors=True)

    dvc("repro", cwd=project)

    pdf = project / "paper" / "main.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    text = " ".join(text.replace("-\n", "").split())
    numbers = macro_values((project / "paper/generated/numbers.tex").read_text())
    assert len(numbers) >= 20
    missing = {key: value for key, value in numbers.items() if " ".join(value.split()) not in text}
    assert not missing, f"numbers absent from the PDF: {missing}"
    assert numbers["permutations"] == "50" and numbers["experiment"] == experiment
    if experiment == "synthetic":
        assert numbers["n-tokens"] == "3000"
    else:
        assert numbers["n-layer-pairs"] == "6" and numbers["vocab-size"] == "512"

    metrics = yaml.safe_load((project / "results/main_one_to_one/metrics.json").read_text())
    assert f"{max(m['svcca'] for m in metrics.values() if 'svcca' in m):.3f}" == numbers["svcca-max"]

    assert "Data and pipelines are up to date" in dvc("repro", cwd=project)
