"""Tagging an uploaded file in the web app: reading it safely, tagging in batches, JSONL and CoNLL downloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..data import CONLL_SUFFIXES, INPUT_SUFFIXES, DataError, Sentence, read_inputs, spans_to_tags
from ..spans import Document
from .context import _CONTROL, AppContext, InputError, Limits, check_threshold, get_entry

__all__ = ["UploadedTexts", "uploaded_file", "read_upload", "tag_file", "CONLL_SUFFIXES", "INPUT_SUFFIXES"]

Progress = Callable[[float, str], None]


class UploadedTexts:
    """Texts (strings or word lists) read from an upload, with gold sentences when it was CoNLL."""

    def __init__(self, name: str, items: list[str | list[str]], gold: list[Sentence] | None = None):
        self.name, self.items, self.gold = name, items, gold


def _reason(exc: Exception, path: Path, name: str) -> str:
    return str(exc).replace(str(path), name)


def uploaded_file(path: Any, limits: Limits, what: str = "a file to tag first (.txt, .jsonl or CoNLL)") -> Path:
    """The server-side path of an upload after the checks every upload gets: present, within the size limit,
    not empty, not binary; :class:`InputError` otherwise (``what`` says what to upload)."""
    if path is None or (isinstance(path, str) and not path.strip()):
        raise InputError(f"Choose {what}.")
    p = Path(getattr(path, "name", path))
    name = p.name
    if not p.is_file():
        raise InputError(f"The upload {name} is missing on the server; upload it again.")
    size = p.stat().st_size
    if size > limits.max_upload_bytes:
        raise InputError(f"{name} is {size / 1e6:.1f} MB; the app takes files up to "
                         f"{limits.max_upload_bytes / 1e6:.1f} MB. Split it, or use the command line (`spandec`).")
    if size == 0:
        raise InputError(f"{name} is empty.")
    with open(p, "rb") as f:
        if b"\x00" in f.read(4096):
            raise InputError(f"{name} looks like a binary file, not text.")
    return p


def read_upload(path: Any, limits: Limits) -> UploadedTexts:
    """Read an uploaded .txt (a text per line), .jsonl (``text`` or ``tokens``) or CoNLL file, within ``limits``."""
    p = uploaded_file(path, limits)
    name = p.name
    suffix = p.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise InputError(f"{name}: unsupported file type {suffix or '(none)'}; upload .txt (one text per line), "
                         ".jsonl ({\"text\": ...} or {\"tokens\": [...]} per line) or CoNLL (.conll, .tsv, .txt).")
    try:
        texts = read_inputs(p)
    except (DataError, ValueError) as exc:
        reason = _reason(exc, p, name)
        if "cannot decode" in reason:
            raise InputError(f"{name} is not UTF-8 text ({reason}).") from None
        raise InputError(f"Could not read {name}: {reason}") from None
    items, gold = texts.items, texts.gold
    if not items:
        raise InputError(f"{name} holds no texts.")
    if len(items) > limits.max_upload_texts:
        raise InputError(f"{name} holds {len(items):,} texts; the app tags at most {limits.max_upload_texts:,} at once.")
    for n, item in enumerate(items, 1):
        length = len(item) if isinstance(item, str) else sum(len(w) + 1 for w in item)
        if length > limits.max_chars:
            raise InputError(f"{name}: text {n} has {length:,} characters; each text may have at most "
                             f"{limits.max_chars:,}.")
    items = [_CONTROL.sub(" ", x) if isinstance(x, str) else x for x in items]
    return UploadedTexts(name, items, gold)


def tag_file(ctx: AppContext, path: Any, model_name: str, threshold: float, progress: Progress | None = None,
             batch_size: int = 16) -> tuple[list[str], str, list[list]]:
    """Tag every text of an upload; returns [JSONL path, CoNLL path], a summary line and preview rows."""
    upload = read_upload(path, ctx.limits)
    thr = check_threshold(threshold)
    entry = get_entry(ctx, model_name)
    items = [x for x in upload.items if (x.strip() if isinstance(x, str) else x)]
    preds: list[list[dict]] = []
    with ctx.lock(entry.model):
        for b in range(0, len(items), batch_size):
            if progress is not None:
                progress(b / len(items), f"tagging texts {b + 1}-{min(b + batch_size, len(items))} of {len(items)}")
            preds += entry.model.predict_batch(items[b : b + batch_size], batch_size=batch_size,
                                               **entry.options(thr))
    if progress is not None:
        progress(1.0, "writing files")
    out = ctx.new_dir("tagged")
    stem = Path(upload.name).stem or "texts"
    jsonl, conll = out / f"{stem}.entities.jsonl", out / f"{stem}.entities.conll"
    gold = {id(s.words): s for s in upload.gold} if upload.gold else {}
    with open(jsonl, "w", encoding="utf-8") as fj, open(conll, "w", encoding="utf-8") as fc:
        for item, ents in zip(items, preds):
            key = "text" if isinstance(item, str) else "tokens"
            fj.write(json.dumps({key: item, "entities": ents, "model": model_name}, ensure_ascii=False) + "\n")
            words = Document.from_input(item).words
            tags = spans_to_tags(len(words), [(e["word_start_index"], e["word_end_index"], e["label"]) for e in ents])
            sent = gold.get(id(item))
            for k, (w, t) in enumerate(zip(words, tags)):
                fc.write(f"{w} {sent.tags[k]} {t}\n" if sent else f"{w} {t}\n")
            fc.write("\n")
    n_ent = sum(len(p) for p in preds)
    columns = "word gold pred" if gold else "word pred"
    summary = (f"Tagged **{len(items)}** text{'s' if len(items) != 1 else ''} from {upload.name} with {model_name}: "
               f"{n_ent} entities. Downloads: JSONL and CoNLL ({columns}).")
    preview = [[n, (item if isinstance(item, str) else " ".join(item))[:120], len(p),
                ", ".join(f"{e['span']} ({e['label']})" for e in p[:6])[:200]]
               for n, (item, p) in enumerate(zip(items[:50], preds[:50]), 1)]
    return [str(jsonl), str(conll)], summary, preview
