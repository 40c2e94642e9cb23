"""The offline English corpus of the `trained` source kind: WordNet's glosses.

Each synset line of WordNet's `data.noun`, `data.verb`, `data.adj` and `data.adv` (Debian
package `wordnet-base`) becomes one document, "lemma, lemma: gloss", where the gloss holds the
definition and the example sentences. The synset's lexicographer file (noun.feeling,
noun.time, ...) is kept with the document as a ready-made semantic category.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from universality.errors import InputError

DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")

# The lexicographer file numbers of WordNet 3.0 (lexnames(5WN)); a synset line stores the number.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)  # fmt: skip


class CorpusError(InputError):
    """The WordNet database is missing or malformed; the message says how to install it."""


def parse_synset_line(line: str) -> dict[str, str] | None:
    """One `data.*` line -> {synset, lexname, text}; None for the license header lines."""
    if line.startswith("  ") or "|" not in line:
        return None
    fields, gloss = line.split("|", 1)
    parts = fields.split()
    offset, lex_number, pos, word_count = parts[0], int(parts[1]), parts[2], int(parts[3], 16)
    lemmas = [parts[4 + 2 * i].replace("_", " ") for i in range(word_count)]
    lemmas = [lemma.split("(")[0] for lemma in lemmas]  # adjective markers such as "(a)"
    return {
        "synset": f"{offset}-{pos}",
        "lexname": LEXNAMES[lex_number],
        "text": f"{', '.join(dict.fromkeys(lemmas))}: {gloss.strip()}",
    }


def read_wordnet(directory: str | Path) -> pd.DataFrame:
    """All WordNet synsets as documents, in file order: columns synset, lexname, text."""
    directory = Path(directory)
    missing = [name for name in DATA_FILES if not (directory / name).exists()]
    if missing:
        raise CorpusError(
            f"WordNet database not found in {directory} (missing {', '.join(missing)}): install the Debian "
            "package wordnet-base (`make setup` does) or point wordnet_dir of the token set in params.yaml (token_sets) at it"
        )
    rows = []
    for name in DATA_FILES:
        with open(directory / name, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    row = parse_synset_line(line)
                except (IndexError, ValueError) as err:
                    raise CorpusError(f"{directory / name}:{number} is not a WordNet synset line: {err}") from err
                if row is not None:
                    rows.append(row)
    return pd.DataFrame(rows, columns=["synset", "lexname", "text"])
