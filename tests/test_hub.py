"""Pretrained-experiment loading, exercised offline on tiny local models (see hub_offline_check.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def offline_check() -> dict:
    script = Path(__file__).with_name("hub_offline_check.py")
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_hub_model_loads_unprocessed_so_resid_post_matches_the_original_model(offline_check):
    assert offline_check["resid_post_vs_hf"] < 1e-5


def test_a_checkpoint_loads_that_revision_the_floor_of_pythia(offline_check):
    """checkpoint 0 loads revision step0 (Pythia's random initialisation), not the final weights."""
    assert offline_check["checkpoint_vs_hf"] < 1e-5 and offline_check["checkpoint_vs_final"] > 0.1


def test_the_pythia_floor_loads_step_0_and_trains_its_saes_here(offline_check):
    assert offline_check["floor_weights"] == "EleutherAI/pythia-70m-deduped@0"
    assert offline_check["floor_sae_shape"] == [64, 32]


def test_sparsify_saes_encode_exactly_as_sparsify_does(offline_check):
    assert offline_check["codes_vs_sparsify"] < 1e-5
    assert offline_check["sae_hook_names"] == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]


def test_hook_check_runs_on_hub_models_and_names_both_hooks(offline_check):
    message = offline_check["hook_check"]
    assert "blocks.0.hook_resid_post" in message and "blocks.1.hook_resid_post" in message


@pytest.mark.parametrize("what", ["model_error", "sae_error", "dataset_error"])
def test_unreachable_hub_says_so_and_names_the_cache_that_fixes_it(offline_check, what):
    """The fix it names is the one the offline check itself uses: the models and SAEs above load from HF_HUB_CACHE."""
    message = offline_check[what]
    assert "hub is unreachable" in message and "HF_HUB_CACHE" in message and "`hf download NAME`" in message
    assert "pull-activations" not in message  # no remote holds pretrained activations
