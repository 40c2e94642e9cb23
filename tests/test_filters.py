import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from universality.activations.cache import ActivationCache
from universality.errors import InputError
from universality.pairing.contexts import context_text, token_classes, top_activations
from universality.pairing.filters import (
    FeatureTokens,
    FilterSettings,
    edge_correlations,
    feature_tokens,
    filter_flags,
    held_out_groups,
    removal_report,
    top_token_overlap,
)
from universality.pairing.layer_pair import pair_layers
from universality.params.schema import Filters, HeldOut, Hubs, NonConcept, PairingSettings
from universality.token_sets import TokenText, vocabulary_table

VOCABULARY = vocabulary_table(["<bos>", " the", " cat", ",", " ", "42", " sat", "!?"], special_ids={0})


def test_token_classes():
    classes = token_classes(VOCABULARY)
    assert classes.index[classes["special"]].tolist() == [0]
    assert classes.index[classes["whitespace"]].tolist() == [4]
    assert classes.index[classes["punctuation"]].tolist() == [3, 7]
    assert classes.index[classes["digits"]].tolist() == [5]


def test_top_activations_order_and_padding():
    codes = sp.csr_matrix(np.array([[0.5, 0.0], [2.0, 0.0], [0.5, 1.0], [1.0, 0.0]], dtype=np.float32))
    top = top_activations(codes, k=3)
    assert top[0].tolist() == [1, 3, 0]  # 2.0, 1.0, then the first of the two 0.5s
    assert top[1].tolist() == [2, -1, -1]


def test_top_token_overlap_counts_distinct_shared_ids():
    top_a = np.array([[5, 5, 6, -1], [1, 2, 3, 4]])
    top_b = np.array([[5, 7, -1, -1], [4, 3, 9, 9]])
    assert top_token_overlap(top_a, top_b).tolist() == [1, 2]
    assert top_token_overlap(np.array([[-1, -1]]), np.array([[-1, -1]])).tolist() == [0]


def test_feature_tokens_flags_punctuation_features():
    token_ids = np.array([3, 3, 2, 7, 1])  # ",", ",", " cat", "!?", " the"
    codes = sp.csr_matrix(np.array([[1, 0], [2, 0], [0, 3], [3, 0], [0, 1]], dtype=np.float32))
    excluded = token_classes(VOCABULARY)[["special", "whitespace", "punctuation"]].any(axis=1).to_numpy()
    tokens = feature_tokens(codes, token_ids, excluded, top_k=2, max_share=0.5)
    assert tokens.top_ids.tolist() == [[7, 3], [2, 1]]
    assert tokens.non_concept.tolist() == [True, False]


def test_edge_correlations_match_numpy_and_flag_silent_features():
    rng = np.random.default_rng(0)
    dense_a = rng.random((50, 3)) * (rng.random((50, 3)) < 0.4)
    dense_b = rng.random((50, 2)) * (rng.random((50, 2)) < 0.4)
    dense_b[:, 1] = 0
    r = edge_correlations(sp.csr_matrix(dense_a), sp.csr_matrix(dense_b), np.array([0, 2, 1]), np.array([0, 0, 1]))
    assert r[0] == pytest.approx(np.corrcoef(dense_a[:, 0], dense_b[:, 0])[0, 1])
    assert r[1] == pytest.approx(np.corrcoef(dense_a[:, 2], dense_b[:, 0])[0, 1])
    assert np.isnan(r[2])


def test_held_out_groups_hold_out_whole_windows():
    groups = np.repeat(np.arange(10), 7)
    held = held_out_groups(groups, 0.3, seed=0)
    assert held.sum() == 21
    assert all(len(set(held[groups == g])) == 1 for g in range(10))
    assert (held == held_out_groups(groups, 0.3, seed=0)).all()
    with pytest.raises(InputError, match=r"filters\.held_out\.fraction"):
        held_out_groups(groups, 0.01, seed=0)


def test_filters_report_each_removal_in_order_and_alone():
    tokens_a = FeatureTokens(top_ids=np.array([[1, 2], [3, 3], [1, 6]]), non_concept=np.array([False, True, False]))
    tokens_b = FeatureTokens(top_ids=np.array([[2, 5], [3, -1], [6, 6]]), non_concept=np.array([False, False, False]))
    edges = pd.DataFrame({"a": [0, 1, 2, 0], "b": [0, 1, 2, 2], "r": [0.5, 0.9, 0.05, 0.6], "r_held_out": [0.4, 0.8, 0.3, np.nan]})
    settings = FilterSettings(min_correlation=0.1, tokens=(tokens_a, tokens_b), min_overlap=1, held_out_min_correlation=0.2)
    flags = filter_flags(edges, settings)
    assert flags["pass_correlation"].tolist() == [True, True, False, True]
    assert flags["top_token_overlap"].tolist() == [1, 1, 1, 0]
    assert flags["pass_non_concept"].tolist() == [True, False, True, False]  # A 1 is non-concept; edge 3 shares nothing
    assert flags["pass_held_out"].tolist() == [True, True, True, False]  # NaN: B 2 silent on held-out tokens
    assert flags["kept"].tolist() == [True, False, False, False]
    report = removal_report(flags, settings)
    assert report["correlation"] == {"enabled": True, "removed": 1, "removed_alone": 1}
    assert report["non_concept"] == {"enabled": True, "removed": 2, "removed_alone": 2}
    assert report["held_out"] == {"enabled": True, "removed": 0, "removed_alone": 1}
    assert report["kept"] == 1 and report["pairs"] == 4


def test_filters_that_are_off_pass_everything():
    edges = pd.DataFrame({"a": [0, 1], "b": [0, 1], "r": [-0.5, 0.9]})
    settings = FilterSettings(min_correlation=None, tokens=None, min_overlap=1, held_out_min_correlation=None)
    flags = filter_flags(edges, settings)
    assert flags["kept"].all()
    report = removal_report(flags, settings)
    assert not report["correlation"]["enabled"] and report["kept"] == 2


def test_context_marks_the_token_and_drops_specials():
    windows = np.array([[0, 1, 2, 6, 3]])
    positions = np.argwhere(windows >= 0)
    assert context_text(windows, positions, 2, VOCABULARY, before=5, after=1) == " the[[ cat]] sat"


def test_held_out_filter_reads_top_tokens_and_contexts_at_the_tokens_the_pairing_saw():
    """With windows held out, codes lose rows: top tokens and hub contexts must follow the same rows."""
    rng = np.random.default_rng(0)
    n_windows, length = 60, 8
    windows = rng.integers(1, 8, (n_windows, length))
    windows[:, 0] = 0  # BOS, not counted
    positions = np.array([(w, o) for w in range(n_windows) for o in range(1, length)])
    token_ids = windows[positions[:, 0], positions[:, 1]]
    text = TokenText(token_ids=token_ids, positions=positions, documents=positions[:, 0], windows=windows, vocabulary=VOCABULARY)
    n = len(token_ids)
    a = (rng.random((n, 4)) < 0.2) * rng.uniform(0.5, 1.5, (n, 4))
    a[:, 0] = (token_ids == 2) * rng.uniform(0.5, 1.5, n)  # fires on " cat" only
    b = a * rng.uniform(0.8, 1.2, a.shape)
    cache_a, cache_b = (ActivationCache(sp.csr_matrix(x.astype(np.float32)), rng.standard_normal((4, 6)), {"d_model": 6}) for x in (a, b))
    filters = Filters(0.1, NonConcept(True, 5, ["special", "punctuation"], 0.5, 1), HeldOut(True, 0.5, 0.1, 0))
    tables = pair_layers(cache_a, cache_b, (text, text), PairingSettings("sparse", 16, 8, 1, 64, "cpu"), filters, Hubs(4, 3, 2))
    cat = next(h for h in tables.hubs if h["a_feature"] == 0)
    assert cat["contexts"] and all("[[ cat]]" in context for context in cat["contexts"])
    pair = tables.pairs.set_index("b_feature").loc[0]
    assert pair["a_partner"] == 0 and pair["top_token_overlap"] == 1 and pair["kept"]
