import numpy as np
import pytest

from universality.sources.trained.bpe import BOS, PAD, train_bpe
from universality.sources.trained.wordnet import LEXNAMES, CorpusError, parse_synset_line, read_wordnet
from universality.token_sets import TokenSet, pack_documents, pack_split, split_windows

NOUN_LINE = (
    "00217593 04 n 01 kill 1 002 @ 00217014 n 0000 + 00355365 v 0101 | the destruction of an enemy plane; "
    '"the pilot reported two kills during the mission"  \n'
)


def test_synset_line_keeps_lemmas_gloss_examples_and_lexicographer_file():
    row = parse_synset_line(NOUN_LINE)
    assert row == {
        "synset": "00217593-n",
        "lexname": "noun.act",
        "text": 'kill: the destruction of an enemy plane; "the pilot reported two kills during the mission"',
    }
    assert parse_synset_line("  1 This software and database is being provided\n") is None


def test_word_count_is_hexadecimal_and_adjective_markers_are_dropped():
    words = " ".join(f"w{i} 0" for i in range(11))
    row = parse_synset_line(f"00000001 00 a 0b {words}(a) 000 | gloss\n".replace("w10 0(a)", "w10(a) 0"))
    assert row["lexname"] == "adj.all"
    assert row["text"] == ", ".join(f"w{i}" for i in range(11)) + ": gloss"


def test_lexname_table_has_wordnet_numbering():
    assert len(LEXNAMES) == 45
    assert (LEXNAMES[12], LEXNAMES[28], LEXNAMES[44]) == ("noun.feeling", "noun.time", "adj.ppl")


def test_missing_wordnet_names_the_directory_and_the_package(tmp_path):
    with pytest.raises(CorpusError, match=rf"{tmp_path}.*wordnet-base.*wordnet_dir of the token set"):
        read_wordnet(tmp_path)


def test_malformed_line_names_file_and_line(tmp_path):
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        (tmp_path / name).write_text(NOUN_LINE)
    (tmp_path / "data.verb").write_text(NOUN_LINE + "00000002 zz v | broken\n")
    with pytest.raises(CorpusError, match=r"data.verb:2 is not a WordNet synset line"):
        read_wordnet(tmp_path)


def test_packing_keeps_documents_whole_and_marks_bos_and_padding():
    documents = [[10, 11, 12], [20, 21], [30, 31, 32, 33], [40] * 9]
    windows, owners = pack_documents(documents, context_length=6, bos_id=0, pad_id=1)
    assert windows.tolist() == [
        [0, 10, 11, 12, 20, 21],
        [0, 30, 31, 32, 33, 1],
        [0, 40, 40, 40, 40, 40],  # longer than a window: truncated
    ]
    assert owners.tolist() == [[-1, 0, 0, 0, 1, 1], [-1, 2, 2, 2, 2, -1], [-1, 3, 3, 3, 3, 3]]


def test_a_split_token_set_packs_analysed_and_training_documents_apart():
    token_set = pack_split([[10, 11], [20]], [[30, 31, 32], [40]], context_length=5, bos_id=0, pad_id=1)
    assert token_set.windows.tolist() == [[0, 10, 11, 20, 1], [0, 30, 31, 32, 40]]
    assert token_set.analysis.tolist() == [True, False]
    assert token_set.documents.tolist() == [[-1, 0, 0, 1, -1], [-1, 2, 2, 2, 3]]  # training documents keep their own index
    assert token_set.training_windows()[0].tolist() == [[0, 30, 31, 32, 40]]
    assert token_set.training_windows()[1].tolist() == [[False, True, True, True, True]]
    assert pack_split([[10]], [], context_length=5, bos_id=0, pad_id=1).analysis.tolist() == [True]


def test_token_hash_covers_the_analysis_windows_only():
    windows = np.arange(40, dtype=np.int32).reshape(10, 4)
    owners = np.zeros_like(windows)
    analysis = split_windows(10, 3, seed=0)
    token_set = TokenSet(windows, owners, analysis)
    changed = windows.copy()
    changed[~analysis] += 1
    assert TokenSet(changed, owners, analysis).token_hash == token_set.token_hash
    changed[analysis] += 1
    assert TokenSet(changed, owners, analysis).token_hash != token_set.token_hash
    assert analysis.sum() == 3 and np.array_equal(analysis, split_windows(10, 3, seed=0))


def test_bpe_is_deterministic_and_reserves_bos_and_pad():
    documents = ["the cat sat on the mat", "a dog sat on a log", "the dog and the cat"] * 20
    first, second = train_bpe(documents, 300), train_bpe(documents, 300)
    assert first.to_str() == second.to_str()
    assert (first.token_to_id(BOS), first.token_to_id(PAD)) == (0, 1)
    assert first.decode(first.encode("the cat sat").ids) == "the cat sat"
