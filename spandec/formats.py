"""The files the project writes results to: JSONL records and CoNLL columns, written so that the readers of
:mod:`spandec.data` read them back exactly (or refused with the record named).

JSONL is one JSON value per ``\\n``-terminated line (``ensure_ascii=False``; U+2028 and friends stay inside a
line, so lines are split on ``\\n`` only). A CoNLL word must be non-empty, free of whitespace and not
``-DOCSTART-``; :func:`write_conll` refuses other words with the record named rather than write a file that
reads back differently.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any, Sequence

from .data import DataError, PathLike, spans_to_tags
from .spans import Document

__all__ = [
    "write_jsonl", "conll_word_problem", "conll_problem", "check_conll", "write_conll", "entity_columns",
]
_SPACE = re.compile(r"\s")


def write_jsonl(f: IO[str], record: Any) -> None:
    """One JSON record as one ``\\n``-terminated line (non-ASCII kept; JSON escapes any newline inside)."""
    f.write(json.dumps(record, ensure_ascii=False) + "\n")


def conll_word_problem(word: Any) -> str | None:
    """Why ``word`` cannot be a CoNLL word (reads back differently), or None."""
    if not isinstance(word, str):
        return f"{word!r} is not a string"
    if not word:
        return "an empty word"
    if _SPACE.search(word):
        return f"{word!r} holds whitespace (it would read back as several words)"
    if word == "-DOCSTART-":
        return "'-DOCSTART-' (it would read back as a document break)"
    return None


def conll_problem(sentences: Sequence[Sequence[str]], names: Sequence[str] | None = None) -> str | None:
    """The first word of ``sentences`` (word lists) that CoNLL cannot hold, as ``"record N, word K: why"``."""
    for i, words in enumerate(sentences):
        for k, w in enumerate(words, 1):
            problem = conll_word_problem(w)
            if problem:
                name = names[i] if names else f"record {i + 1}"
                return f"{name}, word {k}: {problem}"
    return None


def check_conll(where: Any, sentences: Sequence[Sequence[str]], names: Sequence[str] | None = None) -> None:
    """``DataError`` (``where: cannot write CoNLL: record N, word K: why``) when a word of ``sentences`` (word
    lists) would not read back from CoNLL as itself."""
    problem = conll_problem(sentences, names)
    if problem:
        raise DataError(f"{where}: cannot write CoNLL: {problem}; use JSONL for such tokens")


def write_conll(path: PathLike, rows: Sequence[Sequence[Sequence[str]]], names: Sequence[str] | None = None) -> None:
    """Write sentences as ``word tag [tag ...]`` lines, a blank line between sentences.

    ``rows``: per sentence, its columns (words first, then one tag list per column). Raises ``DataError``
    naming the record and word (nothing written) when a word would not read back as itself.
    """
    check_conll(path, [cols[0] for cols in rows], names)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for cols in rows:
            for parts in zip(*cols):
                f.write(" ".join(parts) + "\n")
            f.write("\n")


def entity_columns(item: str | Sequence[str], entities: Sequence[dict],
                   gold: Sequence[str] | None = None) -> tuple[list[str], ...]:
    """CoNLL columns of one tagged text: its words, the gold tags if given, the predicted IOB2 tags."""
    words = Document.from_input(item).words
    pred = spans_to_tags(len(words), [(e["word_start_index"], e["word_end_index"], e["label"]) for e in entities])
    return (list(words), list(gold), pred) if gold is not None else (list(words), pred)
