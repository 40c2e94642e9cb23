"""Semantic categories of features, by a fixed rule over their top-activating tokens.

Every counted token carries at most one category label:
- rule `lexname`: the WordNet lexicographer file (noun.animal, noun.time, ...) of the gloss the
  token belongs to, when that file is one of `subspaces.lexnames`;
- rule `word_lists`: the category whose word list holds the token's text, stripped and
  lower-cased (the first list that holds it).
A feature's category is the label carried by at least `min_share` (more than half) of its
`top_k` top-activating tokens; a feature reaching no label has none. A pair belongs to a
category when both its features do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def lexname_labels(token_documents: np.ndarray, documents: pd.DataFrame, lexnames: list[str]) -> np.ndarray:
    """Per counted token (its document index): the index in `lexnames` of its document's lexicographer file, -1 if unlisted."""
    index = {name: i for i, name in enumerate(lexnames)}
    per_document = documents["lexname"].map(index).fillna(-1).to_numpy(dtype=np.int64)
    return per_document[token_documents]


def word_list_labels(token_ids: np.ndarray, vocabulary: pd.DataFrame, word_lists: dict[str, list[str]]) -> np.ndarray:
    """Per counted token (its id): the index of the first word list holding its stripped, lower-cased text, -1 if none."""
    text = vocabulary["text"].str.strip().str.lower().to_numpy()
    per_id = np.full(len(vocabulary), -1, dtype=np.int64)
    for i, words in enumerate(word_lists.values()):
        per_id[np.isin(text, [word.strip().lower() for word in words]) & (per_id < 0)] = i
    return per_id[token_ids]


def feature_categories(top_rows: np.ndarray, labels: np.ndarray, n_categories: int, min_share: float) -> np.ndarray:
    """Per feature (its top-activating token rows, -1 padded): the category of at least `min_share` of them, else -1."""
    present = top_rows >= 0
    token_labels = np.where(present, labels[np.maximum(top_rows, 0)], -1)
    counts = np.stack([(token_labels == c).sum(axis=1) for c in range(n_categories)], axis=1)
    share = counts.max(axis=1) / np.maximum(present.sum(axis=1), 1)  # 0 for a feature that never fired
    return np.where(share >= min_share, counts.argmax(axis=1), -1)


def pairs_in_category(pairs: pd.DataFrame, category_a: np.ndarray, category_b: np.ndarray, category: int) -> pd.DataFrame:
    """The pairs whose A partner and B feature both belong to `category`."""
    both = (category_a[pairs["a_partner"].to_numpy()] == category) & (category_b[pairs["b_feature"].to_numpy()] == category)
    return pairs[both].reset_index(drop=True)
