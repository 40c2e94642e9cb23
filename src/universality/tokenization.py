"""Token sets: a BPE tokenizer for the toy corpus, fixed windows, masks and the token hash.

A token set is a matrix of windows (n_windows x context_length, BOS first) with, per
position, the index of the document it came from (-1 for BOS and padding). The mask of
positions that count is `document >= 0`: BOS and padding never count. The token hash covers
the windows and the mask; every downstream artifact records it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from universality import io

BOS = "<bos>"
PAD = "<pad>"


def train_bpe(documents: Iterable[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE tokenizer trained on `documents`, with <bos> (id 0) and <pad> (id 1)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer=trainer)
    return tokenizer


def pack_documents(
    token_lists: Sequence[Sequence[int]], context_length: int, bos_id: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
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

    def training_windows(self) -> np.ndarray:
        return self.windows[~self.analysis]

    @property
    def token_hash(self) -> str:
        windows, mask = self.analysis_windows()
        return io.sha256_arrays(windows, mask.astype(np.uint8))


def split_windows(n_windows: int, n_analysis: int, seed: int) -> np.ndarray:
    """A seeded choice of `n_analysis` held-out windows, as a boolean mask."""
    if not 0 < n_analysis <= n_windows:
        raise ValueError(f"cannot hold out {n_analysis} analysis windows from {n_windows}; lower the window count in params.yaml")
    analysis = np.zeros(n_windows, dtype=bool)
    analysis[np.random.default_rng(seed).choice(n_windows, size=n_analysis, replace=False)] = True
    return analysis


def save_token_set(path: str | Path, token_set: TokenSet, metadata: dict[str, str]) -> None:
    io.write_tensors(
        path,
        {"windows": token_set.windows, "documents": token_set.documents, "analysis": token_set.analysis.astype(np.uint8)},
        metadata={"token_hash": token_set.token_hash, **metadata},
    )


def load_token_set(path: str | Path) -> TokenSet:
    tensors = io.read_tensors(path)
    return TokenSet(windows=tensors["windows"], documents=tensors["documents"], analysis=tensors["analysis"].astype(bool))


def tokenize_documents(documents: Sequence[str], encode: Callable[[list[str]], list[list[int]]]) -> list[list[int]]:
    """Token ids of each document (newline-terminated, so packed documents stay apart)."""
    return encode([f"{text}\n" for text in documents])


def hub_documents(dataset: str, split: str, n_documents: int) -> list[str]:
    """The first `n_documents` texts of a Hugging Face dataset, streamed (needs the hub)."""
    from datasets import load_dataset

    from universality.hub import hub_call

    stream = hub_call(f"dataset {dataset}", lambda: load_dataset(dataset, split=split, streaming=True))
    texts = []
    for row in hub_call(f"dataset {dataset}", lambda: stream.take(n_documents)):
        texts.append(row["text"])
    return texts
