"""Corpus and annotation files: read a corpus to import, write a project's annotations in one format.

Import reads plain text (a text per line), JSON lines (``text`` with optional ``entities`` / doccano ``label``),
CoNLL (``word ... tag``), a ``datasets`` folder (``save_to_disk``) or a Label Studio JSON export; spans found
there become pre-annotations. Export writes ``conll``, ``jsonl``, ``label-studio``, ``doccano`` or ``datasets``;
exporting, importing that file and exporting again gives the same entities. Problems raise ``DataError``
(a ``ValueError``) naming the file and, where there is one, the line or task.

Lines follow the project's one rule (:func:`spandec.data.split_lines`: ``\\n`` only, a CRLF's ``\\r`` dropped);
JSON is written by :func:`spandec.formats.json_text` (U+2028, U+2029, U+0085 escaped). The word formats
(``conll``, ``datasets``) hold whole words only: an entity that starts or ends inside a word (``New York`` in
``New York-based``), or covers no word, stops the whole export with a ``DataError`` naming the text and the
entity, before anything is written (no silent widening; export such projects as jsonl, doccano or label-studio).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ..data import DataError, Sentence, read_conll, read_text, spans_to_tags, split_lines
from ..formats import json_text, write_conll
from ..hf_datasets import load_hf_dataset, to_hf_dataset
from ..inputs import CONLL_SUFFIXES, looks_like_conll
from ..text import split_words
from .entities import normalize
from .projects import Doc

__all__ = ["read_corpus", "corpus_kind", "write_annotations", "EXPORT_FORMATS", "EXPORT_SUFFIXES", "IMPORT_KINDS",
           "sentence_doc", "doc_sentence"]

EXPORT_FORMATS = ("conll", "jsonl", "label-studio", "doccano", "datasets")
EXPORT_SUFFIXES = {  # the file suffix of each export format (datasets: a folder)
    "conll": ".conll", "jsonl": ".jsonl", "label-studio": ".json", "doccano": ".jsonl", "datasets": ""}
IMPORT_KINDS = ("auto", "text", "jsonl", "conll", "datasets", "label-studio", "doccano")


def sentence_doc(sentence: Sentence, source_id: str | None = None) -> Doc:
    """A CoNLL/datasets sentence as a text (words joined by spaces) with its entities as character spans."""
    starts, pos = [], 0
    for w in sentence.words:
        starts.append(pos)
        pos += len(w) + 1
    text = " ".join(sentence.words)
    spans = [{"start": starts[s], "end": starts[e - 1] + len(sentence.words[e - 1]), "label": label}
             for s, e, label in sentence.entities]
    return Doc(text, source_id or sentence.source, spans or None)


def doc_sentence(text: str, entities: Iterable[dict], doc_id: str | None = None, where: str = "") -> Sentence:
    """A text with character-span entities as words (:func:`spandec.text.split_words`) and IOB2 tags;
    ``DataError`` (``where`` first) naming an entity that is not whole words, which words cannot hold."""
    triples = split_words(text)
    spans = []
    for t in entities:
        ws = [k for k, (_, s, e) in enumerate(triples) if s < t["end"] and e > t["start"]]
        if not ws or triples[ws[0]][1] != t["start"] or triples[ws[-1]][2] != t["end"]:
            words = " ".join(triples[k][0] for k in ws)
            why = f"is part of the word(s) “{words[:80]}”" if ws else "covers no word"
            raise DataError(f"{where}entity “{text[t['start']:t['end']][:80]}” ({t['start']}-{t['end']}, "
                            f"{t['label']}) {why}; a word format holds whole words only, so export this project "
                            "as jsonl, doccano or label-studio (or fix the entity)")
        spans.append((ws[0], ws[-1] + 1, t["label"]))
    return Sentence([w for w, _, _ in triples], spans_to_tags(len(triples), spans), doc_id)


def _jsonl_entities(row: dict, where: str) -> list | None:
    """Spans of one JSON line: ours (``entities``: start/end/label), spandec predict or doccano."""
    if isinstance(row.get("label"), list):  # doccano: [[start, end, "LABEL"], ...]
        return [list(x) for x in row["label"]]
    out = []
    for e in row.get("entities") or []:
        if not isinstance(e, dict):
            raise DataError(f"{where}: each entity must be an object, got {e!r}")
        start = e.get("start", e.get("char_start_index", e.get("start_offset")))
        end = e.get("end", e.get("char_end_index", e.get("end_offset")))
        out.append([start, end, e.get("label")])
    return out or None


def _read_jsonl(path: Path) -> list[Doc]:
    docs = []
    for n, line in enumerate(split_lines(read_text(path, "utf-8")), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
        if isinstance(row, str):
            row = {"text": row}
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f"{where}: expected an object with a 'text' string")
        sid = row.get("source_id") or row.get("id")
        docs.append(_doc(row["text"], _jsonl_entities(row, where), str(sid) if sid is not None else where, where))
    return docs


def _doc(text: str, spans: list | None, source_id: str, where: str) -> Doc:
    try:
        return Doc(text, source_id, normalize(text, spans) if spans else None)
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None


def _ls_result(task: dict) -> list:
    """Spans of a Label Studio task: its first non-cancelled annotation, else its first prediction."""
    for key in ("annotations", "completions", "predictions"):
        for ann in task.get(key) or []:
            if isinstance(ann, dict) and not ann.get("was_cancelled"):
                return [r for r in ann.get("result") or [] if isinstance(r, dict) and r.get("type") == "labels"]
    return []


def _read_label_studio(path: Path) -> list[Doc]:
    try:
        tasks = json.loads(read_text(path, "utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise DataError(f"{path}: expected a Label Studio export (a list of tasks)")
    docs = []
    for k, task in enumerate(tasks):
        where = f"{path}: task {k + 1}"
        data = task.get("data") if isinstance(task, dict) else None
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise DataError(f"{where}: no data.text string")
        spans = []
        for r in _ls_result(task):
            v = r.get("value") or {}
            labels = v.get("labels") or []
            if len(labels) != 1:
                raise DataError(f"{where}: a span needs exactly one label, got {labels!r}")
            spans.append([v.get("start"), v.get("end"), labels[0]])
        sid = data.get("source_id") or task.get("id")
        docs.append(_doc(text, spans, str(sid) if sid is not None else where, where))
    return docs


def corpus_kind(p: Path) -> str:
    """What a corpus file holds: datasets, label-studio, jsonl, conll or text (by suffix and content)."""
    if p.is_dir():
        return "datasets"
    suffix = p.suffix.lower()
    if suffix == ".json":
        return "label-studio"
    if suffix == ".jsonl":
        return "jsonl"
    if suffix in CONLL_SUFFIXES or (suffix == ".txt" and looks_like_conll(p)):
        return "conll"
    return "text"


def read_corpus(path: str | Path, kind: str = "auto") -> list[Doc]:
    """Texts (with any spans they carry) from a corpus or annotation file; DataError with file and line."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or folder")
    if kind not in IMPORT_KINDS:
        raise DataError(f"{path}: unknown input kind {kind!r}; choose from {', '.join(IMPORT_KINDS)}")
    kind = corpus_kind(p) if kind == "auto" else kind
    if kind in ("jsonl", "doccano"):
        docs = _read_jsonl(p)
    elif kind == "label-studio":
        docs = _read_label_studio(p)
    elif kind == "conll":
        docs = [sentence_doc(s) for s in read_conll(p)]
    elif kind == "datasets":
        docs = [sentence_doc(s, f"{p.name}:{k}") for k, s in enumerate(load_hf_dataset(str(p)))]
    else:
        docs = [Doc(line, f"{p.name}:{n}") for n, line in enumerate(split_lines(read_text(p, "utf-8")), 1)
                if line.strip()]
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise DataError(f"{path}: no texts found")
    return docs


def _entities_out(text: str, entities: list[dict]) -> list[dict]:
    return [{"start": e["start"], "end": e["end"], "label": e["label"], "text": text[e["start"]:e["end"]]}
            for e in entities]


def _stamp(value: Any) -> str | None:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def _label_studio(rows: list[dict]) -> list[dict]:
    tasks: dict[int, dict] = {}
    for r in rows:
        task = tasks.setdefault(r["text_id"], {"id": r["position"] + 1, "data": {"text": r["text"],
                                               "source_id": r["source_id"]}, "annotations": []})
        result = [{"id": f"{r['text_id']}-{k}", "from_name": "label", "to_name": "text", "type": "labels",
                   "value": {"start": e["start"], "end": e["end"], "text": e["text"], "labels": [e["label"]]}}
                  for k, e in enumerate(_entities_out(r["text"], r["entities"]))]
        task["annotations"].append({"result": result, "completed_by": r["annotator"],
                                    "was_cancelled": r["status"] == "skipped", "updated_at": _stamp(r["updated_at"])})
    return list(tasks.values())


def write_annotations(rows: list[dict], fmt: str, out: str | Path) -> Path:
    """Write :func:`spandec.store.projects.project_annotations` rows as ``fmt`` to ``out`` (a folder for datasets)."""
    out = Path(out)
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}.")
    if fmt != "datasets" and out.is_dir():
        raise DataError(f"{out} is a folder; give the path of the {fmt} file to write (e.g. {out / ('annotations' + EXPORT_SUFFIXES[fmt])})")
    if fmt == "datasets" and out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise DataError(f"{out} exists already; give a new (or empty) folder for the datasets export")
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("conll", "datasets"):
        names = [f"text {r['position'] + 1}" + (f" ({r['source_id']})" if r.get("source_id") else "") for r in rows]
        sentences = [doc_sentence(r["text"], r["entities"], r["source_id"], f"{out}: {name}: ")
                     for r, name in zip(rows, names)]
        if fmt == "datasets":
            to_hf_dataset(sentences).save_to_disk(str(out))
        else:
            write_conll(out, [(s.words, s.tags) for s in sentences], names)
        return out
    if fmt == "label-studio":
        out.write_text(json_text(_label_studio(rows), indent=1) + "\n", encoding="utf-8")
        return out
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            if fmt == "doccano":
                rec = {"text": r["text"], "label": [[e["start"], e["end"], e["label"]] for e in r["entities"]],
                       "source_id": r["source_id"], "annotator": r["annotator"], "status": r["status"]}
            else:
                rec = {"text": r["text"], "entities": _entities_out(r["text"], r["entities"]),
                       "source_id": r["source_id"], "annotator": r["annotator"], "status": r["status"],
                       "model": r["model"], "threshold": r["threshold"], "accepted_at": _stamp(r["accepted_at"])}
            f.write(json_text(rec) + "\n")
    return out
