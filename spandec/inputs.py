"""Texts to tag, read from files: plain text (a text per line), JSON lines (``text`` or ``tokens``), a JSON array
(``.json``: one element per text, strings or the same objects as JSON lines) or CoNLL;
the one rule for telling them apart (:func:`input_kind`), eager and lazy readers."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .data import DataError, Sentence, TAG_PATTERN, iter_lines, line_text, read_conll, read_text

PathLike = str | os.PathLike

def looks_like_conll(path: str | Path, probe_lines: int = 50) -> bool:
    """Whether a text file looks like CoNLL (most lines: a word, ..., and a BIO/IOBES tag last)."""
    lines = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for line in f:
            if line.strip() and not line.startswith("-DOCSTART-"):
                lines.append(line.split())
            if len(lines) >= probe_lines:
                break
    if not lines:
        return False
    good = sum(1 for parts in lines if len(parts) >= 2 and TAG_PATTERN.match(parts[-1]))
    return good >= 0.8 * len(lines)


CONLL_SUFFIXES = (".conll", ".tsv", ".iob", ".bio", ".conllu")
INPUT_SUFFIXES = (".txt", ".jsonl", ".json") + CONLL_SUFFIXES  # the file types offered for upload in the app


@dataclass
class InputTexts:
    """Texts to tag read from a file (strings or word lists), with the gold sentences when it was CoNLL."""

    items: list[str | list[str]]
    gold: list[Sentence] | None = None


def input_kind(path: PathLike) -> str:
    """How a file of texts to tag is read: "jsonl", "json" (an array), "conll" (by suffix, or a .txt that looks like
    CoNLL) or "text"."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return suffix[1:]
    return "conll" if suffix in CONLL_SUFFIXES or (suffix == ".txt" and looks_like_conll(path)) else "text"


def read_inputs(path: PathLike, tag_column: int | None = None) -> InputTexts:
    """Texts to tag from .jsonl (``text`` or ``tokens`` per line), CoNLL (by suffix, or a file that looks like it;
    gold in ``tag_column``, see :func:`read_conll`) or plain text (a text per ``\n`` line); ``DataError`` naming
    the file (and line) when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    kind = input_kind(p)
    if kind in ("jsonl", "json"):
        return InputTexts(read_jsonl_inputs(p))
    if kind == "conll":
        gold = read_conll(p, tag_column=tag_column)
        return InputTexts([s.words for s in gold], gold)
    lines = (line_text(line) for line in iter_lines(p))  # "\n" only: U+2028 stays in its text
    return InputTexts([line for line in lines if line.strip()])


def _row_item(row: Any, where: str) -> tuple[str | list[str] | DataError, Any]:
    """The text or words of one JSON record (or a DataError starting with ``where``), and its ``id`` or None."""
    key = row.get("id") if isinstance(row, dict) else None
    if isinstance(row, dict) and isinstance(row.get("tokens"), list):
        problem = _tokens_problem(row["tokens"])
        return (DataError(f"{where}: {problem}") if problem else list(row["tokens"])), key
    if isinstance(row, dict) and isinstance(row.get("text"), str):
        return row["text"], key
    if isinstance(row, str):
        return row, None
    return DataError(f"{where}: expected an object with a 'text' string or a 'tokens' list of strings"), key


def iter_jsonl_inputs(path: PathLike) -> Iterator[tuple[int | str, str | list[str] | DataError, Any]]:
    """Lazily, per non-blank JSON line: (line number, text or words or the line's DataError, its ``id`` or None).
    A ``.json`` file is one JSON array instead: per element, (``element N``, ...), N from 1."""
    if input_kind(path) == "json":
        yield from _json_array_inputs(path)
        return
    for n, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, DataError(f"{path}:{n}: not valid JSON ({exc.msg})"), None
            continue
        yield (n, *_row_item(row, f"{path}:{n}"))


def _json_array_inputs(path: PathLike) -> Iterator[tuple[str, str | list[str] | DataError, Any]]:
    try:
        rows = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: a .json file of texts must be one JSON array (of strings or objects with 'text' "
                        f"or 'tokens'), not a {type(rows).__name__}; use .jsonl for a record per line")
    for n, row in enumerate(rows, 1):
        yield f"element {n}", *_row_item(row, f"{path}: element {n}")


def _tokens_problem(tokens: list) -> str | None:
    """Why a JSON ``tokens`` list cannot be tagged as words (not strings, empty), or None."""
    if not tokens:
        return "'tokens' is an empty list"
    for k, t in enumerate(tokens, 1):
        if not isinstance(t, str):
            return f"token {k} is {json.dumps(t)}, not a string"
        if not t.strip():
            return f"token {k} is empty or only whitespace"
    return None


def read_jsonl_inputs(path: PathLike) -> list[str | list[str]]:
    """Texts to tag from JSON lines: ``{"text": str}``, ``{"tokens": [...]}`` or a bare string per line."""
    items: list[str | list[str]] = []
    for _, item, _ in iter_jsonl_inputs(path):
        if isinstance(item, DataError):
            raise item
        items.append(item)
    return items
