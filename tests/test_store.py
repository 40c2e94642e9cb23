import numpy as np
import pytest
import scipy.sparse as sp

from universality.io import atomic_path, sha256_arrays
from universality.store import ActivationCache, load_cache, save_cache

META = {"model": "a", "layer": 0, "hook_name": "h", "token_hash": "abc", "n_tokens": 6, "d_sae": 4, "d_model": 3}


def test_cache_round_trip(tmp_path):
    codes = sp.random(6, 4, density=0.4, format="csr", random_state=0, dtype=np.float32)
    W_dec = np.arange(12, dtype=np.float32).reshape(4, 3)
    save_cache(tmp_path / "a_L0.safetensors", ActivationCache(codes, W_dec, META))
    loaded = load_cache(tmp_path / "a_L0.safetensors")
    np.testing.assert_array_equal(loaded.codes.toarray(), codes.toarray())
    np.testing.assert_array_equal(loaded.W_dec, W_dec)
    assert loaded.meta == META and loaded.token_hash == "abc"


def test_missing_cache_names_the_commands_that_rebuild_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"a_L0.safetensors is missing.*dvc repro extract.*dvc pull extract"):
        load_cache(tmp_path / "a_L0.safetensors")


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_token_hash_depends_on_content_and_dtype():
    ids = np.arange(10, dtype=np.int32)
    assert sha256_arrays(ids) == sha256_arrays(ids.copy())
    assert sha256_arrays(ids) != sha256_arrays(ids.astype(np.int64))
    assert sha256_arrays(ids) != sha256_arrays(ids[::-1])
