"""Tagging an uploaded file in the web app: reading it safely, tagging in batches, JSONL and CoNLL downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..data import DataError, Sentence
from ..inputs import CONLL_SUFFIXES, INPUT_SUFFIXES, InputTexts, read_inputs
from ..formats import entity_columns, file_stem, write_conll, write_jsonl
from ..spans import Document
from .colors import color_map
from .highlight import render
from .context import _CONTROL, AppContext, InputError, Limits, check_request, check_threshold, get_entry

__all__ = ["about", "UploadedTexts", "uploaded_file", "read_upload", "check_texts", "check_lengths", "tag_file", "PREVIEW_HEADERS", "CONLL_SUFFIXES", "INPUT_SUFFIXES"]

Progress = Callable[[float, str], None]
PREVIEW_HEADERS = ["#", "text", "entity count", "first entities"]


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


def read_upload(path: Any, limits: Limits, whole: bool = False) -> UploadedTexts:
    """Read an uploaded .txt (a text per line, or with ``whole`` the whole file as one text), .jsonl (``text`` or
    ``tokens``) or CoNLL file, within ``limits`` (``max_file_chars`` per text)."""
    p = uploaded_file(path, limits)
    name = p.name
    suffix = p.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise InputError(f"{name}: unsupported file type {suffix or '(none)'}; upload .txt (one text per line), "
                         ".jsonl ({\"text\": ...} or {\"tokens\": [...]} per line) or CoNLL (.conll, .tsv, .txt).")
    try:
        texts = _whole_file(p) if whole and suffix == ".txt" else read_inputs(p)
    except (DataError, ValueError) as exc:
        reason = _reason(exc, p, name)
        if "cannot decode" in reason:
            raise InputError(f"{name} is not UTF-8 text ({reason}).") from None
        raise InputError(f"Could not read {name}: {reason}") from None
    items, gold = texts.items, texts.gold
    check_texts(name, items, limits, max_chars=limits.max_file_chars)  # tagged window by window: long texts too
    items = [_CONTROL.sub(" ", x) if isinstance(x, str) else x for x in items]
    return UploadedTexts(name, items, gold)


def check_texts(name: str, items: list[str | list[str]], limits: Limits, max_chars: int | None = None) -> None:
    """The caps of every upload the app reads texts from (tagging a file, creating a project): at least one and
    at most ``limits.max_upload_texts`` texts, each within ``max_chars`` (default ``limits.max_chars``);
    :class:`InputError` otherwise."""
    if not items:
        raise InputError(f"{name} holds no texts.")
    if len(items) > limits.max_upload_texts:
        raise InputError(f"{name} holds {len(items):,} texts; the app takes at most {limits.max_upload_texts:,} "
                         "texts from one upload (use the command line, `spandec`, for more).")
    check_lengths(name, items, limits, max_chars=max_chars)


def _whole_file(p: Path) -> InputTexts:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: cannot decode as UTF-8 ({exc.reason})") from None
    return InputTexts([text.rstrip("\r\n")] if text.strip() else [])


def check_lengths(name: str, items: list[str | list[str]], limits: Limits, what: str = "text",
                  max_chars: int | None = None) -> None:
    """Every text (or word list) of an upload within ``max_chars`` (default ``limits.max_chars``) characters,
    else :class:`InputError`."""
    limit = max_chars or limits.max_chars
    for n, item in enumerate(items, 1):
        length = len(item) if isinstance(item, str) else sum(len(w) + 1 for w in item)
        if length > limit:
            raise InputError(f"{name}: {what} {n} has {length:,} characters; each {what} may have at most "
                             f"{limit:,}.")


def about(limits: Limits) -> str:
    """What the file-tagging view does, with its limits."""
    return (f"Tag many texts, or one long text (up to **{limits.max_file_chars:,}** characters per text; the other "
            f"views take {limits.max_chars:,}): long texts are tagged window by window with a progress bar. "
            "Downloads: JSONL (character offsets) and CoNLL.")


def _windows(model: Any, item: str | list[str]) -> int:
    """Encoder windows (forward-pass inputs) of one text: the unit of the progress bar."""
    return max(1, len(model.windows(Document.from_input(item).words)))


def tag_file(ctx: AppContext, path: Any, model_name: str, threshold: float, progress: Progress | None = None,
             batch_size: int = 16, session: str | None = None,
             whole_file: bool = False) -> tuple[list[str], str, list[list], str | None]:
    """Tag every text of an upload (``whole_file``: a .txt is one text) as a cancellable job (``ctx.cancel(session)``)
    that holds the model one forward pass at a time, long texts window by window with progress; returns the download
    paths (JSONL, and CoNLL unless a token cannot be a CoNLL word), a summary line, preview rows and the first
    text with its entities marked (HTML)."""
    upload = read_upload(path, ctx.limits, whole=whole_file)
    thr = check_threshold(threshold)
    entry = get_entry(ctx, model_name)
    items = [x for x in upload.items if (x.strip() if isinstance(x, str) else x)]
    cost = check_request(ctx, [model_name], items, what=upload.name, seconds=ctx.limits.job_seconds)[0]
    sizes = [_windows(entry.model, x) for x in items]
    total, done = sum(sizes), 0
    preds: list[list[dict]] = []
    with ctx.job(session) as job:
        for b in range(0, len(items), batch_size):
            chunk = items[b : b + batch_size]
            what = (f"texts {b + 1}-{b + len(chunk)} of {len(items)}" if len(items) > 1 else f"{upload.name}")
            passes = [0]

            def pause(chunk_windows=sum(sizes[b : b + batch_size])) -> None:
                passes[0] += 1
                if progress is not None:
                    seen = min(chunk_windows - 1, passes[0] * batch_size)
                    progress((done + seen) / total, f"tagging {what}: window {done + seen + 1} of {total}")
                job.pause()

            if progress is not None:
                progress(done / total, f"tagging {what}: window {done + 1} of {total}")
            with job.using(entry.model):
                preds += entry.model.predict_batch(chunk, batch_size=batch_size, pause=pause, **entry.options(thr))
            done += sum(sizes[b : b + batch_size])
    if progress is not None:
        progress(1.0, "writing files")
    out = ctx.new_dir("tagged")
    stem = file_stem(Path(upload.name).stem, "texts")
    jsonl, conll = out / f"{stem}.entities.jsonl", out / f"{stem}.entities.conll"
    gold = {id(s.words): s for s in upload.gold} if upload.gold else {}
    with open(jsonl, "w", encoding="utf-8", newline="\n") as fj:
        for item, ents in zip(items, preds):
            write_jsonl(fj, {"text" if isinstance(item, str) else "tokens": item, "entities": ents, "model": model_name})
    files, note = [str(jsonl)], ""
    try:
        write_conll(conll, [entity_columns(item, ents, gold[id(item)].tags if id(item) in gold else None)
                            for item, ents in zip(items, preds)], [f"text {n}" for n in range(1, len(items) + 1)])
        files.append(str(conll))
    except DataError as exc:
        note = f" No CoNLL download: {str(exc).replace(str(conll), conll.name)}."
    n_ent = sum(len(p) for p in preds)
    columns = "word gold pred" if gold else "word pred"
    summary = (f"Tagged **{len(items)}** text{'s' if len(items) != 1 else ''} ({cost.words:,} words) from {upload.name} "
               f"with {model_name}: {n_ent} entities. Downloads: JSONL" + (f" and CoNLL ({columns})." if len(files) > 1
                                                                             else ".") + note)
    preview = [[n, (item if isinstance(item, str) else " ".join(item))[:120], len(p),
                ", ".join(f"{e['span']} ({e['label']})" for e in p[:6])[:200]]
               for n, (item, p) in enumerate(zip(items[:50], preds[:50]), 1)]
    first = items[0] if isinstance(items[0], str) else " ".join(items[0])
    shown = render(first, preds[0] if isinstance(items[0], str) else [], color_map(ctx.pool.labels()))
    return files, summary, preview, shown if isinstance(items[0], str) else None
