"""Token identity: features that fire on one token, and pairs matched only through it.

A feature is a token-identity feature of token t when at least `identity_share` of its `top_k`
top-activating tokens are t. A pair is a token-identity pair when both its features are
token-identity features of the same token: the two fire together because they fire on one token,
and their decoder rows may carry that token's embedding geometry rather than a shared concept.
The reference for that geometry: the embedding rows (W_E) of each pair's top tokens (the tokens
its two features fire on most strongly), scored like decoder rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mode


def identity_tokens(top_ids: np.ndarray, share: float) -> np.ndarray:
    """Per feature (its top token ids, -1 padded): the token id at least `share` of them are, else -1."""
    present = top_ids >= 0
    distinct_padding = -1 - np.arange(top_ids.shape[1])[None, :]  # padding never counts as a repeated token
    most = mode(np.where(present, top_ids, distinct_padding), axis=1, keepdims=False)
    reached = most.count / np.maximum(present.sum(axis=1), 1) >= share
    return np.where(present.any(axis=1) & reached & (most.mode >= 0), most.mode, -1)


def identity_pairs(pairs: pd.DataFrame, token_a: np.ndarray, token_b: np.ndarray) -> np.ndarray:
    """Mask of the pairs whose two features are token-identity features of the same token."""
    a, b = token_a[pairs["a_partner"].to_numpy()], token_b[pairs["b_feature"].to_numpy()]
    return (a >= 0) & (a == b)


def top_token_rows(embedding: np.ndarray, top_ids: np.ndarray) -> np.ndarray:
    """Per feature: the embedding row of the token it fires on most strongly (row 0 for a feature that never fires)."""
    return embedding[np.maximum(top_ids[:, 0], 0)]
