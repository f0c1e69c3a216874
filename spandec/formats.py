"""The files the project writes results to: JSONL records and CoNLL columns, written so that the readers of
:mod:`spandec.data` read them back exactly (or refused with the record named).

JSONL is one JSON value per ``\\n``-terminated line (:func:`json_text`: non-ASCII kept, but U+2028, U+2029 and
U+0085 written as ``\\u`` escapes so that no reader's line splitting can break a record; readers split on ``\\n``
only and accept those characters raw inside strings). A CoNLL word must be non-empty, free of whitespace and not
``-DOCSTART-``; :func:`write_conll` refuses other words with the record named rather than write a file that
reads back differently.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import IO, Any, Sequence

from .data import DataError, PathLike, spans_to_tags
from .spans import Document

__all__ = [
    "json_text", "write_jsonl", "file_stem", "conll_word_problem", "conll_problem", "check_conll", "write_conll", "entity_columns",
]
_SPACE = re.compile(r"\s")


_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
_LINE_BREAK = re.compile("[\u2028\u2029\x85]")


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, **options)`` with U+2028, U+2029 and U+0085 escaped (they can only
    occur inside JSON strings, so the escapes read back as the same characters)."""
    return _LINE_BREAK.sub(lambda m: _LINE_BREAKS[m.group()], json.dumps(value, ensure_ascii=False, **options))


def write_jsonl(f: IO[str], record: Any) -> None:
    """One JSON record as one ``\\n``-terminated line (:func:`json_text`)."""
    f.write(json_text(record) + "\n")


def file_stem(name: str, default: str = "project") -> str:
    """``name`` as a file name inside a folder: letters, digits, ``_ - .`` only, no leading dot, at most 100
    characters, ``default`` when nothing is left (whatever the name, never ``..`` or a path)."""
    stem = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFKC", str(name)), flags=re.ASCII).lstrip(".")[:100]
    return stem if stem.strip("._-") else default


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
