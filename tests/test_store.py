import numpy as np
import pytest
import scipy.sparse as sp

from universality import layout
from universality.activations.cache import ActivationCache, load_cache, load_layer_pair, save_cache
from universality.errors import InputError
from universality.io import atomic_path, sha256_arrays
from universality.params.schema import Comparison

META = {"source": "a", "layer": 0, "hook_name": "h", "token_hash": "abc", "n_tokens": 6, "d_sae": 4, "d_model": 3}


def test_cache_round_trip(tmp_path):
    codes = sp.random(6, 4, density=0.4, format="csr", random_state=0, dtype=np.float32)
    W_dec = np.arange(12, dtype=np.float32).reshape(4, 3)
    save_cache(tmp_path / "a_L0.safetensors", ActivationCache(codes, W_dec, META))
    loaded = load_cache(tmp_path / "a_L0.safetensors")
    np.testing.assert_array_equal(loaded.codes.toarray(), codes.toarray())
    np.testing.assert_array_equal(loaded.W_dec, W_dec)
    assert loaded.meta == META and loaded.token_hash == "abc" and loaded.world_ids is None


def test_planted_labels_travel_with_the_cache(tmp_path):
    codes = sp.random(6, 4, density=0.4, format="csr", random_state=0, dtype=np.float32)
    labels = np.array([3, -1, 0, 7])
    save_cache(tmp_path / "L0.safetensors", ActivationCache(codes, np.zeros((4, 3), np.float32), META, world_ids=labels))
    np.testing.assert_array_equal(load_cache(tmp_path / "L0.safetensors").world_ids, labels)


def test_caches_of_different_token_sets_are_never_paired(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    codes = sp.random(6, 4, density=0.4, format="csr", random_state=0, dtype=np.float32)
    for source, token_hash in (("x", "abc"), ("y", "def")):
        save_cache(
            layout.activation_cache(source, 0), ActivationCache(codes, np.zeros((4, 3), np.float32), META | {"token_hash": token_hash})
        )
    with pytest.raises(InputError, match=r"x L0 and y L0 come from different token sets \(abc vs def\)"):
        load_layer_pair(Comparison(a="x", b="y", tokens="t", layers="all", shuffle_seed=None, buckets=False, sensitivity=False), 0, 0)


def test_missing_cache_names_the_commands_that_fetch_or_rebuild_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = r"data/toy_a/activations/L0.safetensors does not exist: fetch it with `dvc pull extract@toy_a`.* build it with `dvc repro extract@toy_a`"
    with pytest.raises(FileNotFoundError, match=expected):
        load_cache(tmp_path / layout.activation_cache("toy_a", 0))


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_token_hash_depends_on_content_and_dtype():
    ids = np.arange(10, dtype=np.int32)
    assert sha256_arrays(ids) == sha256_arrays(ids.copy())
    assert sha256_arrays(ids) != sha256_arrays(ids.astype(np.int64))
    assert sha256_arrays(ids) != sha256_arrays(ids[::-1])
