"""What a feature fires on: its top-activating tokens, their classes, and their contexts.

The vocabulary is a table (id, text, special) written with the token set, so that nothing
downstream needs the tokenizer or the hub. Token classes used by the non-concept filter:

- `special`: BOS, padding and the tokenizer's other special tokens;
- `whitespace`: text that is empty once stripped;
- `punctuation`: every stripped character is Unicode punctuation or a symbol (P*, S*);
- `digits`: every stripped character is a decimal digit.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import scipy.sparse as sp

TOKEN_CLASSES = ("special", "whitespace", "punctuation", "digits")


def token_classes(vocabulary: pd.DataFrame) -> pd.DataFrame:
    """Boolean class membership per token id (columns: TOKEN_CLASSES)."""
    stripped = vocabulary["text"].str.strip()

    def every_char(predicate) -> pd.Series:
        return stripped.map(lambda text: bool(text) and all(predicate(ch) for ch in text))

    return pd.DataFrame(
        {
            "special": vocabulary["special"].astype(bool),
            "whitespace": stripped.str.len() == 0,
            "punctuation": every_char(lambda ch: unicodedata.category(ch)[0] in "PS"),
            "digits": every_char(str.isdecimal),
        },
        index=vocabulary["id"],
    )


def top_activations(codes: sp.spmatrix, k: int) -> np.ndarray:
    """Token rows of each feature's k largest activations (features x k, -1 where it fired fewer times).

    Order: activation descending, then token row ascending.
    """
    csc = sp.csc_matrix(codes)
    csc.sort_indices()
    lengths = np.diff(csc.indptr)
    feature = np.repeat(np.arange(csc.shape[1]), lengths)
    order = np.lexsort((-csc.data, feature))  # stable: equal activations keep token order
    rank = np.arange(csc.nnz) - csc.indptr[feature[order]]
    keep = rank < k
    top = np.full((csc.shape[1], k), -1, dtype=np.int64)
    top[feature[order][keep], rank[keep]] = csc.indices[order][keep]
    return top


def top_token_ids(top_rows: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """Token ids at the rows of `top_activations` (-1 stays -1)."""
    return np.where(top_rows >= 0, token_ids[np.maximum(top_rows, 0)], -1)


def context_text(windows: np.ndarray, positions: np.ndarray, row: int, vocabulary: pd.DataFrame, before: int, after: int = 3) -> str:
    """The text around counted token `row` (positions: its (window, offset)), the token in [[ ]], specials left out."""
    window, offset = positions[row]
    texts, special = vocabulary["text"].to_numpy(), vocabulary["special"].to_numpy()
    ids = windows[window]

    def span(start: int, stop: int) -> str:
        return "".join(texts[i] for i in ids[max(start, 0) : stop] if not special[i])

    return f"{span(offset - before, offset)}[[{texts[ids[offset]]}]]{span(offset + 1, offset + 1 + after)}"
