"""Reading NER data: CoNLL-style files, tagging schemes, spans, statistics (HF datasets: :mod:`spandec.hf_datasets`).

Every reader returns :class:`Sentence` objects whose ``tags`` are IOB2 (``B-X``, ``I-X``,
``O``), whatever the scheme of the source (IOB1, IOB2, IOBES; detected or given).
Problems with the data raise :class:`DataError` with a ``path:line: what is wrong`` message.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

__all__ = [
    "DataError", "Sentence", "read_conll", "detect_scheme", "to_iob2", "tags_to_spans",
    "spans_to_tags", "entity_types", "dataset_stats", "format_stats", "read_dataset_dir",
    "data_dir", "SCHEMES", "iter_conll_words", "iter_lines", "read_text",
    "split_lines", "line_text",
    "detect_tag_column", "TAG_PATTERN",
]

Span = tuple[int, int, str]
PathLike = str | os.PathLike

#: Accepted scheme names (lower-case) and what they mean.
SCHEMES = {"auto": "auto", "iob1": "iob1", "iob2": "iob2", "bio": "iob2",
           "iobes": "iobes", "bioes": "iobes"}
_PREFIXES = {"iob1": "BI", "iob2": "BI", "iobes": "BIES", "auto": "BIES"}
_DOCSTART = "-DOCSTART-"
_WS = re.compile(r"[ \t\r\f\v]+")  # column separators for non-ASCII lines (keeps NBSP in words)
_SPLITS = {"train": ("train",), "dev": ("dev", "valid", "validation"), "test": ("test",)}
_EXTENSIONS = ("txt", "tsv", "conll")


class DataError(ValueError):
    """Malformed or missing data; the message names the file and line where there is one."""


@dataclass
class Sentence:
    """One sentence: words, IOB2 tags, and where it came from."""

    words: list[str]
    tags: list[str]
    doc_id: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            where = f"{self.source}: " if self.source else ""
            raise ValueError(f"{where}{len(self.words)} words but {len(self.tags)} tags")

    @property
    def entities(self) -> list[Span]:
        """Mentions as ``(start, end_exclusive, label)`` word spans."""
        return tags_to_spans(self.tags)


def _scheme_name(scheme: str, where: str = "") -> str:
    name = SCHEMES.get(str(scheme).lower())
    if name is None:
        raise DataError(f"{where}unknown tagging scheme {scheme!r}; "
                        f"expected one of {', '.join(SCHEMES)}")
    return name


def tag_error(tag: str, prefixes: str) -> str | None:
    """Why ``tag`` is invalid for a scheme with these prefixes, or None if it is valid."""
    if tag == "O":
        return None
    if len(tag) > 2 and tag[1] == "-" and tag[0] in prefixes:
        return None
    allowed = ", ".join(f"{p}-TYPE" for p in prefixes)
    return f"invalid tag {tag!r} (expected O, {allowed})"


def detect_scheme(tags: Iterable[str] | Iterable[Sequence[str]]) -> str:
    """Guess "iobes", "iob1" or "iob2" from tags: a flat sequence or one sequence per sentence.

    IOBES if any ``S-``/``E-`` tag occurs; IOB1 if some ``I-X`` begins a mention (after
    ``O``, another type or a sentence start) while every ``B-X`` follows ``B-X``/``I-X``;
    otherwise IOB2. In a flat sequence, put ``"O"`` between sentences.
    """
    b_starts = i_starts = False
    prev: str | None = None
    for item in tags:
        sentence = isinstance(item, str)
        seq: Sequence[str] = (item,) if sentence else item  # type: ignore[assignment]
        if not sentence:
            prev = None
        for tag in seq:
            if tag == "O" or len(tag) < 3 or tag[1] != "-":
                prev = None
                continue
            prefix, typ = tag[0], tag[2:]
            if prefix in "ES":
                return "iobes"
            if typ != prev:
                if prefix == "B":
                    b_starts = True
                elif prefix == "I":
                    i_starts = True
            prev = typ
        if not sentence:
            prev = None
    return "iob1" if i_starts and not b_starts else "iob2"


def to_iob2(tags: list[str], scheme: str) -> list[str]:
    """Convert one sentence's tags from ``scheme`` (iob1/iob2/iobes/aliases/auto) to IOB2.

    Lenient like conlleval: an ``I-X``/``E-X`` that cannot continue a mention starts one.
    """
    name = _scheme_name(scheme)
    if name == "auto":
        name = detect_scheme(tags)
    prefixes = _PREFIXES[name]
    out: list[str] = []
    open_type: str | None = None  # type of the mention that the next I-/E- may continue
    for tag in tags:
        if tag == "O":
            out.append("O")
            open_type = None
            continue
        problem = tag_error(tag, prefixes)
        if problem:
            raise DataError(f"{problem} in scheme {name}")
        prefix, typ = tag[0], tag[2:]
        begins = prefix == "B" or prefix == "S" or typ != open_type
        out.append(("B-" if begins else "I-") + typ)
        open_type = None if prefix in "ES" else typ
    return out


def tags_to_spans(tags: list[str]) -> list[Span]:
    """IOB2 tags to ``(start, end_exclusive, label)`` spans; a stray ``I-X`` starts a mention."""
    spans: list[Span] = []
    start, label = -1, ""
    for i, tag in enumerate(tags):
        if tag == "O":
            if start >= 0:
                spans.append((start, i, label))
                start = -1
            continue
        if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BI":
            raise ValueError(f"invalid IOB2 tag {tag!r} at position {i}")
        if tag[0] == "B" or start < 0 or tag[2:] != label:
            if start >= 0:
                spans.append((start, i, label))
            start, label = i, tag[2:]
    if start >= 0:
        spans.append((start, len(tags), label))
    return spans


def spans_to_tags(n_words: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    """Non-overlapping ``(start, end_exclusive, label)`` spans to IOB2 tags of length ``n_words``."""
    tags = ["O"] * n_words
    for start, end, label in sorted(spans):
        if not 0 <= start < end <= n_words:
            raise ValueError(f"span {(start, end, label)} out of range for {n_words} words")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span {(start, end, label)} overlaps another span")
        tags[start] = "B-" + label
        for i in range(start + 1, end):
            tags[i] = "I-" + label
    return tags


def read_text(path: PathLike, encoding: str = "utf-8") -> str:
    """Whole file as text; DataError for a missing file or undecodable bytes (with line)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if not p.is_file():
        raise DataError(f"{path}: not a file")
    data = p.read_bytes()
    try:
        text = data.decode(encoding)
    except LookupError:
        raise DataError(f"{path}: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - data.rfind(b"\n", 0, e.start)
        raise _decode_error(path, line, data[e.start], e.start, column, encoding) from None
    return text[1:] if text.startswith("\ufeff") else text


def split_lines(text: str) -> list[str]:
    """Lines of a file's text by the project's one line rule: split on ``\\n`` only (U+2028, U+2029, U+0085 and
    ``\\f`` stay inside their line), one trailing ``\\r`` (CRLF files) dropped from each."""
    return [line_text(line) for line in text.split("\n")]


def line_text(line: str) -> str:
    """One line as read (with or without its ``\\n``) without its line break: ``\\n`` then one ``\\r`` removed."""
    return line.removesuffix("\n").removesuffix("\r")


def _decode_error(path: PathLike, line: int, byte: int, offset: int, column: int, encoding: str) -> DataError:
    return DataError(f"{path}:{line}: cannot decode byte 0x{byte:02x} at byte offset {offset} "
                     f"(column {column}) as {encoding}; pass the right encoding, e.g. encoding='latin-1'")




TAG_PATTERN = re.compile(r"^(O|[BIES]-(\S+))$")  # a tag-like CoNLL column value; group 2: the type


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def detect_tag_column(path: PathLike, lines: Sequence[str], note: Callable[[str], None] | None = _stderr) -> int:
    """The gold tag column of CoNLL ``lines``: the last (-1), except in ``word gold pred`` files (exactly three
    columns, both tag columns over shared entity types, as ``evaluate --output-conll`` writes): 1, noted."""
    types: list[set[str]] = [set(), set()]
    seen = False
    for line in lines:
        parts = line.split()
        if not parts or parts[0] == _DOCSTART:
            continue
        if len(parts) != 3:
            return -1
        for k in (0, 1):
            m = TAG_PATTERN.match(parts[k + 1])
            if not m:
                return -1
            if m.group(2):
                types[k].add(m.group(2))
        seen = True
    if not seen or (types[0] and types[1] and not types[0] & types[1]):
        return -1
    if note is not None:
        note(f"{path}: three columns with tags in the last two (word gold predicted); "
             "reading the gold tags from column 2 (--tag-column to choose)")
    return 1


def read_conll(path: PathLike, scheme: str = "auto", tag_column: int | None = None,
               encoding: str = "utf-8", docids_path: PathLike | bool | None = None,
               note: Callable[[str], None] | None = _stderr) -> list[Sentence]:
    """Read a CoNLL-style file (word first, tag in ``tag_column``) into IOB2 sentences.

    ``tag_column`` counts from 0 (the word) or from the end (-1 = last); None detects it
    (:func:`detect_tag_column`, which tells ``note``). ``docids_path``: None picks up
    ``<stem>.docids.txt`` beside the file if present (one document id per sentence), False ignores it,
    a path requires it.
    """
    name = _scheme_name(scheme, f"{path}: ")
    if tag_column == 0:
        raise DataError(f"{path}: tag_column 0 is the word column")
    prefixes = _PREFIXES[name]
    text = read_text(path, encoding)
    if tag_column is None:
        tag_column = detect_tag_column(path, text.split("\n"), note)

    counts: dict[str, int] = {}
    raw = list(_conll_blocks(text.split("\n"), path, tag_column, prefixes, name, counts))
    segment = counts["segments"]
    if not raw:
        raise DataError(f"{path}: no sentences (empty file?)")

    if name == "auto":
        name = detect_scheme(r[1] for r in raw)
    doc_ids: list[str | None]
    ids_file = _docids_file(path, docids_path)
    if ids_file is not None:
        doc_ids = _read_docids(ids_file, len(raw), path, encoding)
    elif segment:
        numbers: dict[int, int] = {}
        doc_ids = [f"{path}#{numbers.setdefault(r[3], len(numbers))}" for r in raw]
    else:
        doc_ids = [None] * len(raw)
    return [Sentence(w, to_iob2(t, name), d, f"{path}:{n}")
            for (w, t, n, _), d in zip(raw, doc_ids)]


def _conll_blocks(lines: Iterable[str], path: PathLike, tag_column: int, prefixes: str, scheme: str,
                  counts: dict[str, int] | None = None) -> Iterator[tuple[list[str], list[str], int, int]]:
    """Sentences of CoNLL lines as (words, raw tags, first line, -DOCSTART- segment), lazily; tags checked.

    ``counts["segments"]`` receives the number of -DOCSTART- lines at the end.
    """
    need = tag_column + 1 if tag_column > 0 else 1 - tag_column
    words: list[str] = []
    tags: list[str] = []
    first = 0
    segment = 0  # number of -DOCSTART- lines seen so far
    for lineno, line in enumerate(lines, 1):
        parts = line.split() if line.isascii() else [p for p in _WS.split(line) if p]
        if not parts or line.isspace():
            if words:
                yield words, tags, first, segment
                words, tags = [], []
            continue
        if parts[0] == _DOCSTART:
            if words:
                yield words, tags, first, segment
                words, tags = [], []
            segment += 1
            continue
        if len(parts) < need:
            raise DataError(f"{path}:{lineno}: expected at least {need} columns "
                            f"(word, ..., tag in column {tag_column}), found {len(parts)}: "
                            f"{line.strip()!r}")
        tag = parts[tag_column]
        if tag != "O":
            problem = tag_error(tag, prefixes)
            if problem:
                raise DataError(f"{path}:{lineno}: {problem} for scheme {scheme}")
        if not words:
            first = lineno
        words.append(parts[0])
        tags.append(tag)
    if words:
        yield words, tags, first, segment
    if counts is not None:
        counts["segments"] = segment


def iter_conll_words(path: PathLike, encoding: str = "utf-8") -> Iterator[tuple[int, list[str]]]:
    """Lazily, (first line, words) of each sentence of a CoNLL file (tags checked, not converted)."""
    return ((first, words) for words, _, first, _ in
            _conll_blocks(iter_lines(path, encoding), path, -1, _PREFIXES["auto"], "auto"))


def iter_lines(path: PathLike, encoding: str = "utf-8") -> Iterator[str]:
    """Lines of a text file read lazily (BOM dropped); DataError naming the line of undecodable bytes."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: {'not a file' if p.exists() else 'no such file'}")
    offset = 0
    with open(p, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode(encoding)
            except LookupError:
                raise DataError(f"{path}: unknown encoding {encoding!r}") from None
            except UnicodeDecodeError as e:
                raise _decode_error(path, lineno, raw[e.start], offset + e.start, e.start + 1, encoding) from None
            offset += len(raw)
            yield line[1:] if lineno == 1 and line.startswith("\ufeff") else line


def _docids_file(path: PathLike, docids_path: PathLike | bool | None) -> Path | None:
    if docids_path is False:
        return None
    if docids_path is None or docids_path is True:
        p = Path(path)
        guess = p.with_name(p.stem + ".docids.txt")
        if guess.is_file():
            return guess
        if docids_path is True:
            raise DataError(f"{guess}: no such file (document ids for {path})")
        return None
    return Path(docids_path)


def _read_docids(ids_file: Path, n: int, path: PathLike, encoding: str) -> list[str | None]:
    lines = read_text(ids_file, encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids: list[str | None] = []
    for lineno, line in enumerate(lines, 1):
        doc = line.strip()
        if not doc:
            raise DataError(f"{ids_file}:{lineno}: empty document id")
        ids.append(doc)
    if len(ids) != n:
        raise DataError(f"{ids_file}: {len(ids)} document ids but {path} has {n} sentences")
    return ids


def entity_types(sentences: Iterable[Sentence]) -> list[str]:
    """Sorted unique mention types in IOB2 sentences."""
    return sorted({t[2:] for s in sentences for t in s.tags if t != "O"})


def dataset_stats(sentences: Sequence[Sentence]) -> dict[str, Any]:
    """Counts: sentences, documents, tokens, mentions (total, per type), maximum lengths."""
    per_type: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    for s in sentences:
        for start, end, label in s.entities:
            per_type[label] += 1
            lengths[end - start] += 1
    return {
        "sentences": len(sentences),
        "documents": len({s.doc_id for s in sentences if s.doc_id is not None}),
        "tokens": sum(len(s.words) for s in sentences),
        "mentions": sum(per_type.values()),
        "mentions_per_type": dict(sorted(per_type.items())),
        "max_sentence_length": max((len(s.words) for s in sentences), default=0),
        "max_mention_length": max(lengths, default=0),
        "mentions_longer_than_8": sum(c for n, c in lengths.items() if n > 8),
    }


def format_stats(stats: dict[str, Any], path: str) -> str:
    """Readable multi-line report of :func:`dataset_stats` for ``spandec stats PATH``."""
    per_type: dict[str, int] = stats.get("mentions_per_type", {})
    lines = [
        f"{path}",
        f"  sentences           {stats['sentences']:>10,}",
        f"  documents           {stats['documents']:>10,}",
        f"  tokens              {stats['tokens']:>10,}",
        f"  mentions            {stats['mentions']:>10,}",
        f"  longest sentence    {stats['max_sentence_length']:>10,} words",
        f"  longest mention     {stats['max_mention_length']:>10,} words",
        f"  mentions > 8 words  {stats['mentions_longer_than_8']:>10,}",
        f"  types ({len(per_type)}):",
    ]
    width = max((len(t) for t in per_type), default=0)
    total = max(stats["mentions"], 1)
    for typ, count in per_type.items():
        lines.append(f"    {typ:<{width}}  {count:>9,}  {100 * count / total:5.1f}%")
    return "\n".join(lines)


def read_dataset_dir(path: PathLike, scheme: str = "auto", tag_column: int | None = None,
                     encoding: str = "utf-8") -> dict[str, list[Sentence]]:
    """Read ``<dir>/{train,dev,test}.{txt,tsv,conll}`` (dev may be valid/validation)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{path}: no such directory")
    out: dict[str, list[Sentence]] = {}
    for split, stems in _SPLITS.items():
        found = [root / f"{s}.{e}" for s in stems for e in _EXTENSIONS
                 if (root / f"{s}.{e}").is_file()]
        if len(found) > 1:
            raise DataError(f"{path}: several {split} files: {', '.join(f.name for f in found)}")
        if found:
            out[split] = read_conll(found[0], scheme, tag_column, encoding)
    if not out:
        raise DataError(f"{path}: no train/dev/test file with extension "
                        f"{'/'.join(_EXTENSIONS)}")
    return out


def data_dir() -> Path:
    """Benchmark data folder: ``$SPANDEC_DATA_DIR``, else ``../shared/data`` from the working directory."""
    env = os.environ.get("SPANDEC_DATA_DIR")
    return Path(env) if env else Path("..") / "shared" / "data"
