"""A tiny copy of the project: every comparison of the default paper, at a size that builds in minutes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LM_TRAINING = {"epochs": 1, "max_steps": 30, "batch_size": 16, "lr": 0.003, "warmup_steps": 5, "weight_decay": 0.01}
LM_SAE_TRAINING = {  # 300,000 tokens (585 steps, seconds per source): 40,000 left 60-90% of the latents dead
    "training_tokens": 300_000,
    "batch_size": 512,
    "lr": 0.003,
    "lr_decay_fraction": 0.2,
    "dead_window": 20,
    "activation_store": "memory",
}
PLANTED_SAE_TRAINING = {"training_samples": 100_000, "batch_size": 1024, "lr": 0.003}
TINY = {  # every comparison of the default paper, at a size that builds in minutes
    "token_sets": {
        "wordnet": {"vocab_size": 512, "context_length": 32, "analysis_windows": 96},
        "planted": {"n_tokens": 3000, "n_shared": 24, "n_private": 8, "d_world": 16},
    },
    "models": {
        # every layer analysed: the tiny SAEs leave a fifth to a third of their latents dead, the last layer's the most
        **{name: {"n_layers": 2, "d_model": 16, "n_heads": 2, "d_mlp": 64, "layers": [0, 1], "training": LM_TRAINING}
           for name in ("toy_a", "toy_a_r2", "toy_a_r3")},
        **{name: {"n_layers": 3, "d_model": 24, "n_heads": 2, "d_mlp": 96, "layers": [0, 1, 2], "training": LM_TRAINING}
           for name in ("toy_b", "toy_b_r2", "toy_b_r3")},
        "toy_b_untrained": {"n_layers": 3, "d_model": 24, "n_heads": 2, "d_mlp": 96, "layers": [0, 1, 2]},
        "planted_a": {"d_model": 16},
        "planted_b_related": {"d_model": 24},
        "planted_b_unrelated": {"d_model": 24},
    },
    "sources": {
        **{name: {"sae": {"d_sae": 64, "k": 4, "training": LM_SAE_TRAINING}} for name in ("toy_a", "toy_a_sae_seed", "toy_a_r2", "toy_a_r3")},
        **{name: {"sae": {"d_sae": 96, "k": 4, "training": LM_SAE_TRAINING}} for name in ("toy_b", "toy_b_untrained", "toy_b_r2", "toy_b_r3")},
        **{name: {"sae": {"d_sae": 48 + 16 * (name != "planted_a"), "k": 4, "training": PLANTED_SAE_TRAINING}}
           for name in ("planted_a", "planted_b_related", "planted_b_unrelated")},
    },
    "extract": {"chunk_windows": 32, "hook_check_windows": 32, "hook_check_max_fvu": 1.0},  # SAEs trained for seconds: FVU up to ~0.75
    "filters": {
        "min_correlation": 0.1,
        "non_concept": {"enabled": True, "top_k": 5, "token_classes": ["special", "whitespace", "punctuation"], "max_share": 0.5, "min_overlap": 1},
        "held_out": {"enabled": True, "fraction": 0.25, "min_correlation": 0.05, "seed": 0},
    },
    "nulls": {"permutations": 50, "size_matched_draws": 20, "ci_draws": 20},
}  # fmt: skip


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


def merge(base: dict, update: dict) -> dict:
    """`base` with `update` written into it, nested mappings merged key by key."""
    return base | {key: merge(base[key], value) if isinstance(value, dict) and key in base else value for key, value in update.items()}


def shrink_params(path: Path) -> None:
    path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()), TINY), sort_keys=False))


def tools_env(extra: dict | None = None) -> dict:
    """This process's environment with this Python's tools (dvc, python) first on PATH, and `extra` on top."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"} | (extra or {})


def dvc(*args: str, cwd: Path, env: dict | None = None) -> str:
    """Run DVC in `cwd` with `tools_env(env)`; fail with its output."""
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=tools_env(env), capture_output=True, text=True)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def build(project: Path) -> Path:
    """Copy the repository to `project` (a new git repository, nothing committed), shrink its params, `dvc repro`."""
    copy_project(project)
    shrink_params(project / "params.yaml")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    for stale in ("paper/generated", "results/manifest"):
        shutil.rmtree(project / stale, ignore_errors=True)
    dvc("repro", cwd=project)
    return project


def build_once(folder: Path) -> Path:
    """`build(folder / "project")` by the first xdist worker that asks; the others wait for it, and fail at once if it failed."""
    from filelock import FileLock

    folder.mkdir(exist_ok=True)
    project, built, failed = folder / "project", folder / "built", folder / "failed"
    with FileLock(folder / "lock"):
        if failed.exists():
            raise RuntimeError(f"the tiny project's build failed in another worker:\n{failed.read_text()}")
        if not built.exists():
            try:
                build(project)
            except BaseException as err:
                failed.write_text(str(err))
                raise
            built.touch()
    return project


def copy_of(project: Path, destination: Path) -> Path:
    """A copy of a built project, its git repository and DVC cache included, that a test may edit."""
    shutil.copytree(project, destination, symlinks=True)
    return destination
