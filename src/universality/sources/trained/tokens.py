"""Token set of the `trained` kind: WordNet glosses, a BPE tokenizer, windows, held-out analysis windows."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from universality import io
from universality.params.schema import Params
from universality.sources.trained.bpe import BOS, PAD, train_bpe
from universality.sources.trained.wordnet import read_wordnet
from universality.token_sets import TokenSet, pack_documents, save_token_set, split_windows, tokenize_documents

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"


def build(name: str, params: Params, out: Path) -> None:
    spec = params.token_sets[name]
    documents = read_wordnet(spec.wordnet_dir)
    documents = documents.iloc[np.random.default_rng(spec.seed).permutation(len(documents))].reset_index(drop=True)
    log.info("training a %d-token BPE vocabulary on %d WordNet glosses", spec.vocab_size, len(documents))
    tokenizer = train_bpe(documents["text"], spec.vocab_size)
    ids = tokenize_documents(documents["text"].tolist(), lambda texts: [e.ids for e in tokenizer.encode_batch(texts)])
    bos, pad = tokenizer.token_to_id(BOS), tokenizer.token_to_id(PAD)
    windows, owners = pack_documents(ids, spec.context_length, bos, pad)
    token_set = TokenSet(windows, owners, split_windows(len(windows), spec.analysis_windows, spec.seed))
    vocabulary = [tokenizer.decode([i], skip_special_tokens=False) for i in range(tokenizer.get_vocab_size())]
    metadata = {"token_set": name, "vocab_size": str(tokenizer.get_vocab_size()), "bos_id": str(bos), "pad_id": str(pad)}
    save_token_set(out, token_set, documents, vocabulary, {bos, pad}, metadata)
    io.write_text(out / TOKENIZER_FILE, tokenizer.to_str(pretty=True))
