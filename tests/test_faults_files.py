"""Faults in the files a stage reads or writes: each is refused with the file and the command that fixes it, and nothing is lost."""

import os
import pickle  # only to forge a hostile cache file, which the loader must refuse unread
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sae_lens import SAE, TopKSAEConfig
from transformer_lens import HookedTransformer, HookedTransformerConfig

from universality import io, layout
from universality.activations.cache import ActivationCache, load_cache, save_cache
from universality.activations.extract import FINGERPRINT_FILE, _chunk_path, _prepare_scratch
from universality.activations.hooks import check_saes
from universality.errors import InputError
from universality.report.latexmk import build_pdf

CACHE = layout.activation_cache("toy_a", 0)  # data/toy_a/activations/L0.safetensors: extract@toy_a writes it
FIX = r"rebuild it with `dvc repro -s --force extract@toy_a` \(the local DVC cache holds no good copy; `-s` reruns this stage alone\)"
META = {
    "source": "toy_a",
    "layer": 0,
    "hook_name": "blocks.0.hook_resid_post",
    "token_hash": "abc",
    "n_tokens": 50,
    "d_sae": 8,
    "d_model": 4,
}


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """An empty project folder as the working directory, so messages name layout paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def a_cache(values=None, W_dec=None) -> ActivationCache:
    codes = sp.random(50, 8, density=0.3, format="csr", random_state=0, dtype=np.float32)
    if values is not None:
        codes.data[: len(values)] = values
    W_dec = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32) if W_dec is None else W_dec
    return ActivationCache(codes, W_dec, META)


def refused(pattern: str):
    return pytest.raises(InputError, match=pattern)


def test_a_flipped_exponent_bit_in_a_thousand_values_fails_the_checksum(workspace):
    codes = sp.random(2000, 8, density=0.5, format="csr", random_state=1, dtype=np.float32)
    save_cache(CACHE, ActivationCache(codes, np.ones((8, 4), np.float32), META | {"n_tokens": 2000}))
    raw = bytearray(CACHE.read_bytes())
    data_start = 8 + struct.unpack("<Q", raw[:8])[0]
    words = np.random.default_rng(0).choice((len(raw) - data_start) // 4, size=1000, replace=False)
    for word in words:  # the top exponent bit of a little-endian float32 word
        raw[data_start + 4 * word + 3] ^= 0x40
    CACHE.write_bytes(bytes(raw))
    with refused(rf"{CACHE} is corrupted: its tensors do not match the checksum in its header: .*{FIX}"):
        load_cache(CACHE)


def test_a_truncated_cache_is_refused_unread(workspace):
    save_cache(CACHE, a_cache())
    CACHE.write_bytes(CACHE.read_bytes()[:-100])
    with refused(rf"{CACHE} is truncated or padded: its header describes \d+ bytes, the file has \d+ \(it was not loaded\): .*{FIX}"):
        load_cache(CACHE)


class _Marker:
    """Unpickling this creates a file: a loader that unpickles leaves a trace."""

    def __reduce__(self):
        return (Path.touch, (Path("unpickled"),))


def test_a_pickle_under_a_caches_name_is_refused_and_never_unpickled(workspace):
    CACHE.parent.mkdir(parents=True)
    CACHE.write_bytes(pickle.dumps({"codes": _Marker()}))
    with refused(rf"{CACHE} is a pickle \(\d+ bytes; it was not loaded\): .*{FIX}"):
        load_cache(CACHE)
    assert not (workspace / "unpickled").exists()


@pytest.mark.parametrize(
    "content", [b"", b"hello", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}xxxxxxx", (2**40).to_bytes(8, "little") + b"{}"]
)
def test_other_files_under_a_caches_name_are_refused(workspace, content):
    CACHE.parent.mkdir(parents=True)
    CACHE.write_bytes(content)
    with refused(rf"{CACHE} is not a safetensors file, or is truncated .*{FIX}"):
        load_cache(CACHE)


def test_safetensors_written_elsewhere_carry_no_checksum_and_are_refused(workspace):
    from safetensors.numpy import save_file

    CACHE.parent.mkdir(parents=True)
    save_file({"indptr": np.zeros(51, np.int64)}, str(CACHE))
    with refused(rf"{CACHE} carries no checksum, so this pipeline did not write it"):
        load_cache(CACHE)


@pytest.mark.parametrize(
    ("tensors", "problem"),
    [
        ({"values": np.ones(3, np.float64)}, "holds values as float64, not float32"),
        ({"indices": np.zeros(3, np.int64)}, "holds indices as int64, not int32"),
        ({"W_dec": np.ones((8, 5), np.float32)}, r"does not hold a 50 x 8 sparse code matrix and a 8 x 4 decoder, as its header says"),
        ({"indptr": np.zeros(40, np.int64)}, r"does not hold a 50 x 8 sparse code matrix and a 8 x 4 decoder, as its header says"),
    ],
)
def test_a_cache_of_the_wrong_dtype_or_shape_is_refused(workspace, tensors, problem):
    cache = a_cache()
    good = {"indptr": cache.codes.indptr.astype(np.int64), "indices": cache.codes.indices.astype(np.int32),
            "values": cache.codes.data.astype(np.float32), "W_dec": cache.W_dec}  # fmt: skip
    io.write_tensors(CACHE, good | tensors, metadata=META)
    with refused(rf"{CACHE} {problem}: .*{FIX}"):
        load_cache(CACHE)


def test_nan_codes_negative_codes_nan_decoder_rows_and_dead_saes_are_refused_before_any_compute(workspace):
    save_cache(CACHE, a_cache(values=[np.nan, np.inf]))
    with refused(rf"{CACHE} holds 2 NaN or infinite codes"):
        load_cache(CACHE)
    save_cache(CACHE, a_cache(values=[-0.5]))
    with refused(rf"{CACHE} holds 1 negative codes, but SAE codes are non-negative: .*{FIX}"):
        load_cache(CACHE)
    W_dec = np.ones((8, 4), np.float32)
    W_dec[[2, 5], 1] = np.nan
    save_cache(CACHE, a_cache(W_dec=W_dec))
    with refused(rf"{CACHE} holds NaN or infinite decoder rows \(features \[2, 5\]\); if the SAE in data/toy_a/saes holds them too"):
        load_cache(CACHE)
    save_cache(CACHE, ActivationCache(sp.csr_matrix((50, 8), dtype=np.float32), np.ones((8, 4), np.float32), META))
    with refused(rf"{CACHE} has no feature that fires on any of its 50 tokens: every feature of the SAE is dead"):
        load_cache(CACHE)


def tiny_model() -> HookedTransformer:
    config = HookedTransformerConfig(n_layers=2, d_model=8, n_ctx=8, d_head=4, n_heads=2, d_mlp=16, d_vocab=20, act_fn="relu", seed=0)
    return HookedTransformer(config)


def tiny_sae(d_in: int) -> SAE:
    return SAE.from_dict(TopKSAEConfig(d_in=d_in, d_sae=16, k=2).to_dict())


def test_saes_that_do_not_fit_the_model_are_refused_before_any_compute():
    model, where = tiny_model(), {0: "data/toy_a/saes/L0", 5: "data/toy_a/saes/L5"}
    with refused(r"source toy_a: layer 5 is out of range, the model has 2 layers \(0..1\); fix the model's `layers` in params.yaml"):
        check_saes(model, {5: tiny_sae(8)}, where, "toy_a")
    with refused(r"data/toy_a/saes/L0: the SAE reads 12-wide inputs but the model's d_model is 8, so it belongs to another model"):
        check_saes(model, {0: tiny_sae(12)}, where, "toy_a")
    broken = tiny_sae(8)
    with torch.no_grad():
        broken.W_dec[[1, 3]] = float("nan")
    with refused(
        r"data/toy_a/saes/L0: the SAE's W_dec holds NaN or infinite values \(2 of 16 rows\); retrain it with `dvc repro -s --force saes@toy_a`"
    ):
        check_saes(model, {0: broken}, where, "toy_a")
    check_saes(model, {0: tiny_sae(8), 1: tiny_sae(8)}, where | {1: "L1"}, "toy_a")  # fitting SAEs pass


def test_checkpoints_of_other_code_are_discarded(tmp_path):
    scratch = tmp_path / "extract_scratch"
    _prepare_scratch(scratch, {"token_hash": "abc", "code": "before the fix"})
    io.write_tensors(_chunk_path(scratch, 0), {"x": np.zeros(1)})
    _prepare_scratch(scratch, {"token_hash": "abc", "code": "before the fix"})
    assert _chunk_path(scratch, 0).exists()  # same inputs and code: resumed
    _prepare_scratch(scratch, {"token_hash": "abc", "code": "after the fix"})
    assert not _chunk_path(scratch, 0).exists()
    assert io.read_json(scratch / FINGERPRINT_FILE)["code"] == "after the fix"


def test_a_failed_output_set_leaves_the_previous_one_whole(tmp_path):
    folder = tmp_path / "results" / "main" / "pair"
    with io.atomic_directory(folder) as staging:
        (staging / "a.json").write_text("old")
    with pytest.raises(OSError), io.atomic_directory(folder) as staging:
        (staging / "a.json").write_text("new")
        raise OSError(28, "No space left on device")
    assert [p.name for p in folder.parent.iterdir()] == ["pair"] and (folder / "a.json").read_text() == "old"


def test_a_writer_killed_mid_set_leaves_the_previous_set_and_leftovers_a_rerun_removes(tmp_path):
    folder = tmp_path / "pair"
    with io.atomic_directory(folder) as staging:
        (staging / "a.json").write_text("old")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from universality import io
        with io.atomic_directory(Path({str(folder)!r})) as staging:
            (staging / "a.json").write_text("half")
            with io.atomic_path(Path({str(folder)!r}).parent / "metrics.json") as tmp:
                tmp.write_text("half")
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert len(leftovers) == 2 and all(name.endswith(io.TEMPORARY_SUFFIX) for name in leftovers)
    assert (folder / "a.json").read_text() == "old" and not (tmp_path / "metrics.json").exists()
    assert len(io.remove_leftovers(folder)) == 1 and len(io.remove_leftovers(tmp_path / "metrics.json")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair"]


def test_missing_latex_and_pdftotext_name_the_package_that_installs_them(tmp_path, monkeypatch):
    from universality.report.readback import pdf_text

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # this Python only: no TeX, no poppler
    (tmp_path / "main.tex").write_text("\\documentclass{article}\\begin{document}x\\end{document}")
    with refused(r"not found: latexmk \(Debian package latexmk\), pdflatex \(Debian package texlive-latex-recommended\)"):
        build_pdf(tmp_path / "main.tex", tmp_path / "main.pdf", tmp_path / "build")
    with refused(r"pdftotext not found: install Debian's poppler-utils"):
        pdf_text(tmp_path / "main.pdf")


@pytest.mark.skipif(not os.access("/usr/bin/latexmk", os.X_OK), reason="needs latexmk (make setup installs it)")
def test_a_latex_error_is_quoted_from_the_log_that_exists(tmp_path):
    (tmp_path / "main.tex").write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}")
    with refused(r"latexmk failed on .*main.tex:\n! Undefined control sequence(.|\n)*\(the whole log: .*build/main.log\)") as caught:
        build_pdf(tmp_path / "main.tex", tmp_path / "main.pdf", tmp_path / "build")
    assert Path(str(caught.value).rsplit("the whole log: ", 1)[1].rstrip(")")).exists()
    assert not (tmp_path / "main.pdf").exists()
