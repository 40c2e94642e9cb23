"""Token set of the `pretrained` kind: the first N documents of a hub dataset, cut by a hub tokenizer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from universality.params.schema import Params
from universality.sources.pretrained.hub import hub_call, hub_documents
from universality.token_sets import pack_split, save_token_set, tokenize_documents


def build(name: str, params: Params, out: Path) -> None:
    """The first `documents` documents are analysed; the `training_documents` after them, packed apart, train SAEs here."""
    from transformer_lens.loading_from_pretrained import get_official_model_name
    from transformers import AutoTokenizer

    spec = params.token_sets[name]
    official = get_official_model_name(spec.tokenizer)
    tokenizer = hub_call(f"tokenizer of {official}", lambda: AutoTokenizer.from_pretrained(official))
    texts = hub_documents(spec.dataset, spec.split, spec.documents + spec.training_documents)
    ids = tokenize_documents(texts, lambda batch: tokenizer(batch, add_special_tokens=False)["input_ids"])
    bos = tokenizer.bos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else bos
    token_set = pack_split(ids[: spec.documents], ids[spec.documents :], spec.context_length, bos, pad)
    vocabulary = [tokenizer.decode([i]) for i in range(len(tokenizer))]
    metadata = {"token_set": name, "vocab_size": str(len(tokenizer)), "bos_id": str(bos), "pad_id": str(pad), "tokenizer": official}
    save_token_set(out, token_set, pd.DataFrame({"text": texts}), vocabulary, set(tokenizer.all_special_ids) | {bos, pad}, metadata)
