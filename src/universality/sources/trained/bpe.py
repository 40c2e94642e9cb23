"""The toy corpus's tokenizer: a byte-level BPE trained with `tokenizers` on the glosses."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

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
