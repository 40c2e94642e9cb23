"""Token identity and semantic categories: the rules on cases with known answers, and how they are reported."""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from universality.pairing.contexts import top_activations, top_token_ids
from universality.report.subspaces import grid_figure, grid_table, identity_table, rule_table, subspace_macros
from universality.subspaces.categories import feature_categories, lexname_labels, pairs_in_category, word_list_labels
from universality.subspaces.identity import identity_pairs, identity_tokens, top_token_rows

LEXNAMES = ["noun.animal", "noun.time"]


def codes_from(columns: dict[int, dict[int, float]], n_tokens: int, n_features: int) -> sp.csr_matrix:
    """Sparse codes (tokens x features) from {feature: {token row: activation}}."""
    rows, cols, vals = [], [], []
    for feature, activations in columns.items():
        for row, value in activations.items():
            rows.append(row)
            cols.append(feature)
            vals.append(value)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_tokens, n_features))


def test_a_planted_category_is_the_category_of_the_feature_that_fires_on_it():
    # 40 tokens in 4 documents: 0 and 2 are animal glosses, 1 is a time gloss, 3 a plant gloss (not a listed category)
    documents = pd.DataFrame({"lexname": ["noun.animal", "noun.time", "noun.animal", "noun.plant"]})
    token_documents = np.repeat(np.arange(4), 10)
    labels = lexname_labels(token_documents, documents, LEXNAMES)
    assert labels.tolist() == [0] * 10 + [1] * 10 + [0] * 10 + [-1] * 10
    animal = {row: 1.0 + row / 100 for row in [*range(0, 10), *range(20, 30)]}  # every animal token, strongest ones first by row
    animal_with_noise = {row: 0.1 for row in range(10, 14)} | {row: 2.0 for row in range(20, 26)} | {row: 1.5 for row in range(0, 4)}
    mixed = {row: 1.0 for row in [*range(0, 5), *range(10, 15)]}  # half animal, half time: no majority of 0.6
    plant = {row: 1.0 for row in range(30, 40)}  # an unlisted category
    codes = codes_from({0: animal, 1: animal_with_noise, 2: mixed, 3: plant}, 40, 5)  # feature 4 never fires
    categories = feature_categories(top_activations(codes, 10), labels, len(LEXNAMES), min_share=0.6)
    assert categories.tolist() == [0, 0, -1, -1, -1]


def test_word_lists_label_tokens_by_their_stripped_lower_cased_text():
    vocabulary = pd.DataFrame({"id": range(5), "text": [" Happy", "sad", "dog", " the", "DOG "], "special": False})
    labels = word_list_labels(np.array([0, 1, 2, 3, 4, 2]), vocabulary, {"feeling": ["happy", "Sad"], "animal": ["dog"]})
    assert labels.tolist() == [0, 0, 1, -1, 1, 1]


def test_a_pure_token_identity_feature_and_its_pairs_are_flagged():
    token_ids = np.array([7, 3, 7, 5, 7, 7, 2, 7, 7, 7, 7, 7])  # id of each token row
    pure = {row: 1.0 + row for row in np.flatnonzero(token_ids == 7)}  # fires on token 7 only
    mostly = pure | {1: 50.0}  # one strong firing elsewhere: 8 of its 9 top tokens are 7
    spread = {row: 1.0 for row in range(12)}
    codes = codes_from({0: pure, 1: mostly, 2: spread}, 12, 3)
    top = top_token_ids(top_activations(codes, 9), token_ids)
    assert identity_tokens(top, 0.9).tolist() == [7, -1, -1]  # the mostly-7 feature: 8 of 9 top tokens, 0.89
    assert identity_tokens(top, 0.85).tolist() == [7, 7, -1]
    tokens_b = np.array([7, 7, 5])  # B feature 1 is an identity feature of 7 too, but its partner is not
    pairs = pd.DataFrame({"b_feature": [0, 1, 2], "a_partner": [0, 1, 0]})
    assert identity_pairs(pairs, np.array([7, -1, -1]), tokens_b).tolist() == [True, False, False]
    embedding = np.arange(20, dtype=float).reshape(10, 2)
    assert top_token_rows(embedding, top).tolist() == [[14.0, 15.0], [6.0, 7.0], [14.0, 15.0]]  # strongest: 7, 3, 7 (ties: first row)


def test_a_pair_is_in_a_category_only_when_both_features_are():
    pairs = pd.DataFrame({"b_feature": [0, 1, 2], "a_partner": [5, 6, 7], "r": [0.5, 0.4, 0.3]})
    category_a, category_b = np.full(8, -1), np.array([1, 1, 0])
    category_a[[5, 6, 7]] = [1, 0, 0]
    assert pairs_in_category(pairs, category_a, category_b, 1)["b_feature"].tolist() == [0]
    assert pairs_in_category(pairs, category_a, category_b, 0)["b_feature"].tolist() == [2]


def scores(rsa, p=0.01, q=0.02, status="ok", n=12):
    if status != "ok":
        return {"n": n, "status": status}
    null = {"null_mean": 0.1, "p": p, "q": q, "effect": (rsa - 0.1) / 0.9}
    return {"n": n, "status": "ok", "svcca": {"observed": 0.9, "size_matched": null}, "rsa": {"observed": rsa, "size_matched": null}}


def test_tables_and_sentences_follow_the_results(tmp_path):
    identity = [{"layer_a": 0, "layer_b": 1, "n": 40, "identity_pairs": 10, "identity_share": 0.25, "identity_features_a": 3, "identity_features_b": 4,
                 "all": scores(0.40), "without_identity": scores(0.30), "embedding": scores(0.50)}]  # fmt: skip
    grid = [{"layer_a": 0, "layer_b": 1, "category": "noun.animal"} | scores(0.6, q=0.01),
            {"layer_a": 0, "layer_b": 1, "category": "noun.time"} | scores(None, status="too few pairs", n=2)]  # fmt: skip
    results = {"status": "ok", "rule": {"rule": "lexname", "top_k": 20, "min_share": 0.6, "identity_share": 0.9}, "identity": identity,
               "categories": ["noun.animal", "noun.time"], "grid": grid,
               "sizes": {"noun.animal": {"tokens": 900, "a": {"0": 5}, "b": {"1": 7}}, "noun.time": {"tokens": 300, "a": {"0": 1}, "b": {"1": 0}}}}  # fmt: skip
    macros = subspace_macros(results)
    assert "make up a median 25.0\\% of the one-to-one pairs (at most 25.0\\%)" in macros["ident-summary"]
    assert "removing them lowers the median RSA (0.400 with them, 0.300 without)" in macros["ident-summary"]
    assert (
        "Of the 2 cells" in macros["sem-summary"]
        and "1 hold enough one-to-one pairs to be scored, and 1 of them have" in macros["sem-summary"]
        and "(noun.animal at 0 / 1)" in macros["sem-summary"]
    )
    assert "noun.animal & 900 & 5 & 7 & 12" in rule_table(results)
    grid_rows = grid_table(results)  # a long table: every category at every layer pair
    assert "\\begin{longtable}" in grid_rows and "noun.animal & 0 / 1 & 12 & 0.900 & 0.600 & 0.100 & 0.010 & 0.010" in grid_rows
    assert "noun.time & 0 / 1 & 2 & -- & -- & -- & -- & --" in grid_rows
    # counts on the layer pair's first row; SVCCA and RSA rows with all pairs, without identity pairs, on the embeddings
    assert (
        "0 / 1 & 40 & 10 & 25.0\\% & SVCCA & 0.900 & 0.900 & 0.900 \\\\\n &  &  &  & RSA & 0.400 & 0.300 & 0.500 \\\\\n"
    ) in identity_table(identity)
    assert "not analysed" in subspace_macros({"status": "not analysed"})["sem-summary"]
    for name, drawn in (("grid", results), ("empty", {"status": "no token text", "categories": [], "grid": []})):
        grid_figure(drawn, tmp_path / f"{name}.pdf")
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")
