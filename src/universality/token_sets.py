"""Token sets of text: fixed windows, masks, the token hash, and the text side of each token.

A token set is a matrix of windows (n_windows x context_length, BOS first) with, per
position, the index of the document it came from (-1 for BOS and padding). The mask of
positions that count is `document >= 0`: BOS and padding never count. The token hash covers
the windows and the mask; every downstream artifact records it. A token-set directory holds
`tokens.safetensors`, `documents.parquet` and `vocabulary.parquet` (the text of every token
id and its classes, so nothing downstream needs the tokenizer).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from universality import io
from universality.errors import InputError

log = logging.getLogger(__name__)

TOKENS_FILE = "tokens.safetensors"
DOCUMENTS_FILE = "documents.parquet"
VOCABULARY_FILE = "vocabulary.parquet"


def pack_documents(token_lists: Sequence[Sequence[int]], context_length: int, bos_id: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Pack whole documents into windows that start with BOS, padding each window's tail.

    A document that does not fit in the current window starts a new one; a document longer
    than a window is truncated. Returns (windows, document index per position, -1 for BOS
    and padding), both n_windows x context_length int32.
    """
    room = context_length - 1
    windows, documents = [], []
    tokens, owners = [bos_id], [-1]
    for index, ids in enumerate(token_lists):
        ids = list(ids)[:room]
        if not ids:
            continue
        if len(tokens) + len(ids) > context_length:
            windows.append(tokens + [pad_id] * (context_length - len(tokens)))
            documents.append(owners + [-1] * (context_length - len(owners)))
            tokens, owners = [bos_id], [-1]
        tokens += ids
        owners += [index] * len(ids)
    if len(tokens) > 1:
        windows.append(tokens + [pad_id] * (context_length - len(tokens)))
        documents.append(owners + [-1] * (context_length - len(owners)))
    return np.asarray(windows, dtype=np.int32).reshape(-1, context_length), np.asarray(documents, dtype=np.int32).reshape(
        -1, context_length
    )


@dataclass(frozen=True)
class TokenSet:
    """Windows of token ids, each position's document (-1: BOS/padding) and the split.

    `analysis` marks the held-out windows that form the fixed token set of the paper; the
    others train the toy models and SAEs.
    """

    windows: np.ndarray
    documents: np.ndarray
    analysis: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.documents >= 0

    def analysis_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed token set: (windows, mask) of the analysis split."""
        return self.windows[self.analysis], self.mask[self.analysis]

    def training_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """The windows that train the toy models and SAEs: (windows, mask)."""
        return self.windows[~self.analysis], self.mask[~self.analysis]

    @property
    def token_hash(self) -> str:
        windows, mask = self.analysis_windows()
        return io.sha256_arrays(windows, mask.astype(np.uint8))


def pack_split(
    analysed: Sequence[Sequence[int]], training: Sequence[Sequence[int]], context_length: int, bos_id: int, pad_id: int
) -> TokenSet:
    """A token set whose analysis windows hold the `analysed` documents and whose training
    windows hold the `training` ones, packed apart so that no window mixes the two."""
    (analysis_windows, analysis_owners), (training_windows, training_owners) = (
        pack_documents(part, context_length, bos_id, pad_id) for part in (analysed, training)
    )
    owners = np.concatenate([analysis_owners, np.where(training_owners >= 0, training_owners + len(analysed), -1)])
    analysis = np.arange(len(owners)) < len(analysis_windows)
    return TokenSet(np.concatenate([analysis_windows, training_windows]), owners.astype(np.int32), analysis)


def split_windows(n_windows: int, n_analysis: int, seed: int) -> np.ndarray:
    """A seeded choice of `n_analysis` held-out windows, as a boolean mask."""
    if not 0 < n_analysis <= n_windows:
        raise InputError(f"cannot hold out {n_analysis} analysis windows from {n_windows}; lower the window count in params.yaml")
    analysis = np.zeros(n_windows, dtype=bool)
    analysis[np.random.default_rng(seed).choice(n_windows, size=n_analysis, replace=False)] = True
    return analysis


def vocabulary_table(texts: list[str], special_ids: set[int]) -> pd.DataFrame:
    """One row per token id: its decoded text and whether it is special."""
    return pd.DataFrame(
        {"id": np.arange(len(texts), dtype=np.int64), "text": texts, "special": [i in special_ids for i in range(len(texts))]}
    )


def save_token_set(
    directory: Path, token_set: TokenSet, documents: pd.DataFrame, vocabulary: list[str], special_ids: set[int], metadata: dict[str, str]
) -> None:
    """Write a text token set: windows and split, documents, vocabulary with its token classes."""
    windows, mask = token_set.analysis_windows()
    log.info(
        "token set: %d windows, %d analysis windows with %d counted tokens, hash %s",
        len(token_set.windows), len(windows), int(mask.sum()), token_set.token_hash[:12],
    )  # fmt: skip
    io.write_tensors(
        directory / TOKENS_FILE,
        {"windows": token_set.windows, "documents": token_set.documents, "analysis": token_set.analysis.astype(np.uint8)},
        metadata={"token_hash": token_set.token_hash, **metadata},
    )
    io.write_parquet(directory / DOCUMENTS_FILE, documents)
    io.write_parquet(directory / VOCABULARY_FILE, vocabulary_table(vocabulary, special_ids))


def load_token_set(directory: Path) -> TokenSet:
    tensors = io.read_tensors(directory / TOKENS_FILE)
    return TokenSet(windows=tensors["windows"], documents=tensors["documents"], analysis=tensors["analysis"].astype(bool))


def token_metadata(directory: Path) -> dict[str, str]:
    return io.read_tensor_metadata(directory / TOKENS_FILE)


@dataclass(frozen=True)
class TokenText:
    """Text side of the counted tokens: their ids, (window, offset) positions, documents, the windows, the vocabulary."""

    token_ids: np.ndarray
    positions: np.ndarray
    documents: np.ndarray  # the index (a row of documents.parquet) of each counted token's document
    windows: np.ndarray
    vocabulary: pd.DataFrame

    def rows(self, rows: np.ndarray) -> TokenText:
        """The text of counted tokens `rows`, in that order."""
        return dataclasses.replace(self, token_ids=self.token_ids[rows], positions=self.positions[rows], documents=self.documents[rows])


def load_token_text(directory: Path) -> TokenText | None:
    """The text of a token set's counted tokens; None for a token set without text (planted)."""
    if not (directory / VOCABULARY_FILE).exists():
        return None
    token_set = load_token_set(directory)
    windows, mask = token_set.analysis_windows()
    documents = token_set.documents[token_set.analysis][mask]
    return TokenText(windows[mask], np.argwhere(mask), documents, windows, io.read_parquet(directory / VOCABULARY_FILE))


def tokenize_documents(documents: Sequence[str], encode: Callable[[list[str]], list[list[int]]]) -> list[list[int]]:
    """Token ids of each document (newline-terminated, so packed documents stay apart)."""
    return encode([f"{text}\n" for text in documents])
