"""Extraction on a tiny TransformerLens model: hook check, chunked resume after kill -9."""

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sae_lens import TopKSAE, TopKSAEConfig
from transformer_lens import HookedTransformer, HookedTransformerConfig

from universality import io, layout
from universality.activations.cache import load_cache
from universality.activations.extract import extract_model
from universality.activations.hooks import HookFVUTooHigh, HookMismatch, check_hooks
from universality.artifacts import provenance
from universality.sources.sae_files import save_sae
from universality.sources.trained.language_model import save_toy_model
from universality.token_sets import TokenSet, save_token_set

REPO = Path(__file__).resolve().parents[1]
SOURCE = "toy_a"
N_LAYERS, D_MODEL, VOCAB, CONTEXT = 3, 16, 48, 16
RANK = 3


def tiny_model(seed: int = 0) -> HookedTransformer:
    config = HookedTransformerConfig(
        n_layers=N_LAYERS, d_model=D_MODEL, n_heads=2, d_head=D_MODEL // 2, d_mlp=4 * D_MODEL, d_vocab=VOCAB,
        n_ctx=CONTEXT, act_fn="gelu", normalization_type="LN", seed=seed, device="cpu",
    )  # fmt: skip
    return HookedTransformer(config).eval()


def windows_and_mask(n_windows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    windows = np.random.default_rng(seed).integers(2, VOCAB, size=(n_windows, CONTEXT)).astype(np.int32)
    windows[:, 0] = 0
    mask = np.ones_like(windows, dtype=bool)
    mask[:, 0] = False
    return windows, mask


def pca_sae(activations: torch.Tensor) -> TopKSAE:
    """A TopK SAE that projects onto the top-RANK principal directions of `activations`.

    Its latents are the +/- principal directions, so it reconstructs its own hook's
    activations well and other hooks' (other mean, other subspace) badly.
    """
    mean = activations.mean(dim=0)
    _, _, vt = torch.linalg.svd(activations - mean, full_matrices=False)
    basis = torch.cat([vt[:RANK], -vt[:RANK]])
    sae = TopKSAE(TopKSAEConfig(d_in=D_MODEL, d_sae=2 * RANK, k=RANK, apply_b_dec_to_input=True))
    with torch.no_grad():
        sae.W_enc.copy_(basis.T)
        sae.b_enc.zero_()
        sae.W_dec.copy_(basis)
        sae.b_dec.copy_(mean)
    return sae


def fitted_saes(model: HookedTransformer, windows: np.ndarray, mask: np.ndarray) -> dict[int, TopKSAE]:
    names = [f"blocks.{layer}.hook_resid_post" for layer in range(N_LAYERS)]
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.from_numpy(windows.astype(np.int64)), names_filter=names)
    keep = torch.from_numpy(mask)
    return {layer: pca_sae(cache[name][keep]) for layer, name in enumerate(names)}


@pytest.fixture(scope="module")
def tiny():
    model = tiny_model()
    windows, mask = windows_and_mask(64)
    return model, windows, mask, fitted_saes(model, windows, mask)


def run_check(tiny, saes: dict[int, TopKSAE], max_fvu: float = 1.0) -> dict:
    model, windows, mask, _ = tiny
    return check_hooks(model, saes, "blocks.{layer}.hook_resid_post", windows, mask, batch_windows=16, device="cpu", max_fvu=max_fvu)


def test_hook_check_records_every_neighbour_and_accepts_the_right_hooks(tiny):
    *_, saes = tiny
    report = run_check(tiny, saes)
    for layer, entry in report.items():
        assert entry["hook"] == f"blocks.{layer}.hook_resid_post"
        assert entry["max_fvu"] == 1.0
        assert set(entry["neighbours"]) == {f"blocks.{other}.hook_resid_post" for other in (layer - 1, layer + 1) if 0 <= other < N_LAYERS}
        assert entry["fvu"] < min(entry["neighbours"].values())


def test_hook_check_stops_when_layer_l_sae_reads_block_l_minus_1(tiny):
    *_, saes = tiny
    shifted = {layer + 1: saes[layer] for layer in range(N_LAYERS - 1)}  # SAE of block L-1 configured at L
    with pytest.raises(HookMismatch, match=r"layer 1 reconstructs blocks.0.hook_resid_post better.*configured hook blocks.1"):
        run_check(tiny, shifted)


def test_hook_check_stops_when_a_middle_layer_sae_reads_block_l_plus_1(tiny):
    assert N_LAYERS >= 3, "layer 1 must be a middle layer"
    *_, saes = tiny
    with pytest.raises(HookMismatch, match=r"layer 1 reconstructs blocks.2.hook_resid_post better.*configured hook blocks.1"):
        run_check(tiny, {1: saes[2]})  # SAE of block 2 configured at layer 1


def test_hook_check_stops_when_the_fvu_exceeds_the_bound(tiny):
    *_, saes = tiny
    fvu = max(entry["fvu"] for entry in run_check(tiny, saes).values())
    with pytest.raises(HookFVUTooHigh, match=r"above extract\.hook_check_max_fvu = .* in params\.yaml"):
        run_check(tiny, saes, max_fvu=0.99 * fvu)
    run_check(tiny, saes, max_fvu=1.01 * fvu)


def extract(tiny, windows, chunk_windows: int, fingerprint: dict, scratch: Path):
    """`extract_model` of the tiny model and its SAEs, loaded where a unit asks for them from those in memory."""
    model, _, mask, saes = tiny
    load = functools.partial(in_memory, model, saes)
    return extract_model(model, saes, load, "blocks.{layer}.hook_resid_post", windows, mask, batch_windows=8, chunk_windows=chunk_windows,
                         scratch=scratch, fingerprint=fingerprint, device="cpu", desc="test")[0]  # fmt: skip


def in_memory(model, saes, device: str) -> tuple:
    return model, saes, {}


def test_chunked_extraction_equals_one_pass_and_drops_masked_positions(tiny, tmp_path):
    _, windows, mask, saes = tiny
    whole = extract(tiny, windows, 64, {"run": 1}, tmp_path / "a")
    chunked = extract(tiny, windows, 5, {"run": 1}, tmp_path / "b")
    for layer in saes:
        codes, quality = chunked[layer]
        assert codes.shape == (mask.sum(), 2 * RANK)
        np.testing.assert_allclose(codes.toarray(), whole[layer][0].toarray(), atol=1e-5)
        assert quality["fvu"] == pytest.approx(whole[layer][1]["fvu"], rel=1e-5)
        assert quality["l0"] <= RANK


def test_scratch_from_other_inputs_is_discarded(tiny, tmp_path):
    _, windows, _, _ = tiny
    extract(tiny, windows, 16, {"token_hash": "x"}, tmp_path)
    other_windows, _ = windows_and_mask(64, seed=1)
    rerun = extract(tiny, other_windows, 16, {"token_hash": "y"}, tmp_path)
    fresh = extract(tiny, other_windows, 16, {"token_hash": "y"}, tmp_path / "fresh")
    np.testing.assert_array_equal(rerun[0][0].toarray(), fresh[0][0].toarray())


def write_project(root: Path, n_windows: int) -> None:
    """A project on disk: params, a token set, one tiny model as source toy_a, PCA SAEs."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    source = params["sources"][SOURCE]
    params["models"][source["model"]] |= {
        "n_layers": N_LAYERS,
        "d_model": D_MODEL,
        "n_heads": 2,
        "d_mlp": 4 * D_MODEL,
        "layers": list(range(N_LAYERS)),
        "seed": 0,
    }
    source["sae"] = source["sae"] | {"d_sae": 2 * RANK, "k": RANK}
    # the PCA SAEs of a random model leave FVU ~0.4; this test is about resuming, not the bound
    params["extract"] |= {"batch_windows": 4, "chunk_windows": 4, "hook_check_windows": 16, "hook_check_max_fvu": 0.9}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copy(REPO / layout.DVC_FILE, root / layout.DVC_FILE)  # what the stage reads its inputs from
    windows, mask = windows_and_mask(n_windows)
    documents = np.where(mask, 0, -1).astype(np.int32)
    token_set = TokenSet(windows, documents, np.ones(n_windows, dtype=bool))
    model = tiny_model()
    saes = fitted_saes(model, windows[:64], mask[:64])
    with recorded_set(root, layout.tokens(source["tokens"])) as out:
        save_token_set(out, token_set, pd.DataFrame({"text": ["doc"]}), [f"t{i}" for i in range(VOCAB)], {0}, {})
    with recorded_set(root, layout.model(source["model"])) as out:
        save_toy_model(model, out)
    with recorded_set(root, layout.saes(SOURCE)) as out:
        for layer, sae in saes.items():
            save_sae(sae, out / layout.sae_folder(layer))


@contextlib.contextmanager
def recorded_set(root: Path, path: Path):
    """Output set `path` of the project in `root`, written as the stage that owns it writes it, recording no inputs."""
    run = provenance.StageRun(str(layout.producing_stage(path)), {}, {})
    with provenance.running(run), provenance.writing_set(root / path) as out:
        yield out


def run_extract(root: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "universality", "extract", SOURCE], cwd=root, text=True, **popen)


N_WINDOWS, N_CHUNKS = 300, 75  # chunk_windows 4


def test_kill_9_then_rerun_resumes_and_matches_an_uninterrupted_run(tmp_path):
    interrupted, clean = tmp_path / "interrupted", tmp_path / "clean"
    for root in (interrupted, clean):
        root.mkdir()
        write_project(root, n_windows=N_WINDOWS)

    process = run_extract(interrupted, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scratch = interrupted / layout.extract_scratch(SOURCE)
    deadline = time.monotonic() + 300
    while len(list(scratch.glob("chunk_*.safetensors"))) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = len(list(scratch.glob("chunk_*.safetensors")))
    assert 3 <= written < N_CHUNKS, "the run must be killed part-way through the extraction"
    activations = interrupted / layout.activations(SOURCE)
    assert not activations.exists() or not list(activations.iterdir()), "no cache may look complete after a kill"

    resumed = run_extract(interrupted, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, log[-3000:]
    assert f"resuming, {written} of {N_CHUNKS} chunks already written" in log
    assert run_extract(clean, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait(timeout=600) == 0

    for layer in range(N_LAYERS):
        left = load_cache(interrupted / layout.activation_cache(SOURCE, layer))
        right = load_cache(clean / layout.activation_cache(SOURCE, layer))
        assert (left.codes != right.codes).nnz == 0
        assert left.meta["quality"] == right.meta["quality"]
    assert not list(scratch.glob("chunk_*")), "checkpoints are removed once the caches are complete"
    quality = layout.quality_metrics(SOURCE)
    assert io.read_json(interrupted / quality) == io.read_json(clean / quality)
