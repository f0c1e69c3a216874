"""The web app's callbacks for highlighting, comparing, the span filter and cross-attention (no UI code).

Each callback takes an :class:`AppContext` (the served models, limits and caches)
and plain values, and returns plain values and plotly figures that ``app.py`` hands
to Gradio components. Problems with the user's input raise :class:`InputError`, whose
message the UI shows as it is. Uploads, the trade-off view and annotation live in
``app_batch``, ``app_tradeoff`` and ``app_annotate``.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .app_models import ROOT, ModelPool
from .app_spans import SpanScores, kept_summary, score_spans
from .colors import DISAGREE_LABEL
from .figures import attention_heatmaps, span_grid, token_strip

__all__ = [
    "InputError", "EmptyInput", "Limits", "AppContext", "clean_text", "check_threshold", "segments",
    "entity_rows", "ready_entries", "highlight", "compare", "span_filter", "span_choices", "attention", "read_examples",
    "ENTITY_HEADERS", "SUMMARY_HEADERS",
]

ENTITY_HEADERS = ["text", "label", "score", "start", "end"]
SUMMARY_HEADERS = ["model", "strategy", "entities", "latency (ms)", "spans decoded", "candidate spans", "status"]
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class InputError(ValueError):
    """A problem with the user's input; the message is written for the user and shown in the UI."""


class EmptyInput(InputError):
    """No text to work on (empty or whitespace only)."""


@dataclass
class Limits:
    """Size limits that keep one request from stalling the app."""

    max_chars: int = 10_000  # per text in the interactive views
    max_upload_bytes: int = 5_000_000
    max_upload_texts: int = 5_000
    max_grid_words: int = 60  # words drawn in the span grid and the heat strip
    max_eval_sentences: int = 5_000


@dataclass
class AppContext:
    """What every callback needs: the model pool, limits, stored-results path, examples and caches."""

    pool: ModelPool
    limits: Limits = field(default_factory=Limits)
    results_path: Path = ROOT / "comparisons" / "results" / "conllpp.json"
    examples: list[str] = field(default_factory=list)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="spandec-app-")))
    cache_size: int = 64
    latency_sample: int = 32  # sentences timed per model in the trade-off view
    _scores: "OrderedDict[tuple[str, str], SpanScores]" = field(default_factory=OrderedDict)
    _locks: dict[int, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    extras: dict[str, Any] = field(default_factory=dict)  # per-view caches (trade-off evaluation, latency)

    def lock(self, model: Any) -> threading.Lock:
        """The lock serialising calls into ``model`` (its per-call statistics are not thread-safe)."""
        with self._guard:
            return self._locks.setdefault(id(model), threading.Lock())

    def span_scores(self, name: str, text: str) -> SpanScores:
        """All candidate spans of ``text`` scored by model ``name`` (cached; the slider then needs no model call)."""
        key = (name, text)
        with self._guard:
            if key in self._scores:
                self._scores.move_to_end(key)
                return self._scores[key]
        entry = get_entry(self, name)
        if entry.base_strategy not in ("spandec", "sf-spandec"):
            raise InputError(f"{name} is a {entry.strategy} model; this view needs a SpanDec or SF-SpanDec model.")
        with self.lock(entry.model):
            scores = score_spans(entry.model, [text])[0]
        with self._guard:
            self._scores[key] = scores
            while len(self._scores) > self.cache_size:
                self._scores.popitem(last=False)
        return scores

    def new_dir(self, prefix: str) -> Path:
        """A fresh folder under the app's work folder for files offered for download."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix + "-", dir=self.workdir))


def get_entry(ctx: AppContext, name: str):
    """The loaded model ``name``, or an :class:`InputError` saying why it is not available."""
    if not name:
        raise InputError("Choose a model first" + ("." if ctx.pool.available else
                                                   ": none is loaded (see “Models” at the top)."))
    try:
        return ctx.pool.get(name)
    except LookupError as exc:
        msg = str(exc).strip("'\"")
        raise InputError(msg[:1].upper() + msg[1:]) from None


def ready_entries(ctx: AppContext) -> list:
    """Every model that loaded (waiting for those still loading), in the served order."""
    out = []
    for name in ctx.pool.available:
        try:
            out.append(ctx.pool.get(name))
        except LookupError:
            continue
    return out


def read_examples(path: str | Path = ROOT / "data" / "examples.txt") -> list[str]:
    """Example texts, one per line (``#`` lines are comments); [] when the file is missing."""
    p = Path(path)
    if not p.is_file():
        return []
    return [line.strip() for line in p.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def clean_text(text: Any, max_chars: int) -> tuple[str, list[str]]:
    """Check a text box value; control and bidi-override characters become spaces (offsets kept).

    Returns the text to tag and notes for the user; raises :class:`InputError` when there is nothing to tag,
    the value is not text, or it is longer than ``max_chars``.
    """
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError(f"Expected text, got {type(text).__name__}.")
    if not text.strip():
        raise EmptyInput("Nothing to tag: the text is empty or only whitespace. Type a sentence or pick an example.")
    if len(text) > max_chars:
        raise InputError(f"The text has {len(text):,} characters; this view takes at most {max_chars:,}. "
                         "Shorten it, or save it as a .txt file (one text per line) and use “Tag a file”.")
    notes = []
    cleaned, n = _CONTROL.subn(" ", text)
    if n:
        notes.append(f"{n} control or direction-override character{'s' if n > 1 else ''} shown as spaces.")
        if not cleaned.strip():
            raise EmptyInput("Nothing to tag: the text holds only control characters and whitespace.")
    return cleaned, notes


def check_threshold(value: Any) -> float:
    """A threshold from the UI or the API: a number between 0 and 1, else :class:`InputError`."""
    try:
        thr = float(value)
    except (TypeError, ValueError):
        raise InputError(f"The threshold must be a number between 0 and 1, got {value!r}.") from None
    if not 0.0 <= thr <= 1.0 or thr != thr:
        raise InputError(f"The threshold must be between 0 and 1, got {value!r}.")
    return thr


def segments(text: str, entities: Sequence[dict]) -> list[tuple[str, str | None]]:
    """``(piece, label or None)`` pieces of ``text`` for a highlighter, from predict-style entity dicts."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for e in sorted(entities, key=lambda e: (e["char_start_index"], e["char_end_index"])):
        s, t = e["char_start_index"], e["char_end_index"]
        if s < pos:  # overlapping (not produced by flat decoding): skip rather than garble
            continue
        if s > pos:
            out.append((text[pos:s], None))
        out.append((text[s:t], e["label"]))
        pos = t
    if pos < len(text) or not out:
        out.append((text[pos:], None))
    return out


def entity_rows(entities: Sequence[dict]) -> list[list]:
    """Table rows ``text, label, score, start, end`` of entity dicts."""
    return [[e["span"], e["label"], round(float(e.get("score", 1.0)), 4), e["char_start_index"], e["char_end_index"]]
            for e in entities]


def run_model(ctx: AppContext, name: str, text: str, threshold: float) -> tuple[list[dict], float, dict]:
    """Entities of ``text`` by model ``name``, the call's wall time in ms, and its span statistics."""
    entry = get_entry(ctx, name)
    model = entry.model
    with ctx.lock(model):
        start = time.perf_counter()
        entities = model.predict_batch([text], **entry.options(threshold))[0]
        if model.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        ms = 1000 * (time.perf_counter() - start)
        stats = dict(model.last_stats_total)
    return entities, ms, stats


def _stats_text(stats: dict) -> str:
    if not stats.get("candidates"):
        return "no span enumeration (token classifier)"
    c, d = stats["candidates"], stats["decoded"]
    return f"{d} of {c} candidate spans decoded ({100 * d / c:.1f} %)"


def highlight(ctx: AppContext, text: str, model_name: str, threshold: float) -> tuple[list, list[list], str]:
    """Highlight view: highlighted pieces, entity table rows, and a line with the call's latency."""
    text, notes = clean_text(text, ctx.limits.max_chars)
    thr = check_threshold(threshold)
    entities, ms, stats = run_model(ctx, model_name, text, thr)
    entry = ctx.pool.get(model_name)
    thr_note = f" at threshold {entry.threshold(thr):.2f}" if entry.has_filter else ""
    info = (f"**{model_name}**{thr_note}: {len(entities)} entit{'y' if len(entities) == 1 else 'ies'} in "
            f"**{ms:.1f} ms** on {entry.model.device.type.upper()} · {_stats_text(stats)}")
    if notes:
        info += "  \n" + " ".join(notes)
    return segments(text, entities), entity_rows(entities), info


def compare(ctx: AppContext, text: str, threshold: float) -> tuple[list, list[list], list[list], list, list[str]]:
    """Compare view: per served model its highlighted pieces (None if unavailable), a summary table,
    the disagreement table (span, offsets, each model's label), highlighted disagreements and the table headers."""
    text, notes = clean_text(text, ctx.limits.max_chars)
    thr = check_threshold(threshold)
    highlighted, summary, by_model = [], [], {}
    ready = {e.name: e for e in ready_entries(ctx)}
    for name, entry in ctx.pool.entries.items():
        if name not in ready:
            highlighted.append(None)
            summary.append([name, "-", "-", "-", "-", "-", f"not loaded: {entry.error}"])
            continue
        entities, ms, stats = run_model(ctx, name, text, thr)
        by_model[name] = {(e["char_start_index"], e["char_end_index"]): e["label"] for e in entities}
        highlighted.append(segments(text, entities))
        summary.append([name, entry.strategy, len(entities), round(ms, 1), stats.get("decoded", "-") if stats.get("candidates")
                        else "-", stats.get("candidates") or "-", "ok" + (f" (threshold {entry.threshold(thr):.2f})"
                                                                          if entry.has_filter else "")])
    names = list(by_model)
    keys = sorted({k for d in by_model.values() for k in d})
    rows, disputed = [], []
    for s, e in keys:
        labels = [by_model[n].get((s, e)) for n in names]
        if len(set(labels)) > 1:
            rows.append([text[s:e], s, e] + [lab or "—" for lab in labels])
            disputed.append((s, e))
    merged: list[dict] = []
    for s, e in sorted(disputed):
        if merged and s < merged[-1]["char_end_index"]:
            merged[-1]["char_end_index"] = max(merged[-1]["char_end_index"], e)
        else:
            merged.append({"char_start_index": s, "char_end_index": e, "label": DISAGREE_LABEL})
    headers = ["text", "start", "end"] + names
    return highlighted, summary, rows, segments(text, merged), headers


def span_filter(ctx: AppContext, text: str, model_name: str, threshold: float) -> tuple[Any, Any, str]:
    """Span-filter view: heat strip of word entity probabilities, the span grid, and the kept-span summary."""
    text, notes = clean_text(text, ctx.limits.max_chars)
    thr = check_threshold(threshold)
    scores = ctx.span_scores(model_name, text)
    entry = ctx.pool.get(model_name)
    used = entry.threshold(thr)
    limit = ctx.limits.max_grid_words
    summary = f"**{model_name}** at threshold {used:.2f}: {kept_summary(scores, used)}"
    if entry.has_filter and entry.spec.threshold is not None:
        summary += f" (threshold pinned to {entry.spec.threshold:g} for this model)"
    n_ent = len(scores.decoded(used))
    summary += f"; {n_ent} entit{'y' if n_ent == 1 else 'ies'} predicted."
    if len(scores.words) > limit:
        summary += f"  \nThe figures show the first {limit} of {len(scores.words)} words; the counts cover all of them."
    if notes:
        summary += "  \n" + " ".join(notes)
    strip = token_strip(scores.words, None if scores.token_probs is None else scores.token_probs.tolist(), used, limit)
    return strip, span_grid(scores, used, limit), summary


def span_choices(ctx: AppContext, text: str, model_name: str, threshold: float, limit: int = 2000) -> list[tuple[str, str]]:
    """``(label, "start:end")`` choices of candidate spans: predicted entities first, then kept, then pruned."""
    text, _ = clean_text(text, ctx.limits.max_chars)
    scores = ctx.span_scores(model_name, text)
    used = ctx.pool.get(model_name).threshold(check_threshold(threshold))
    kept = scores.kept(used)
    predicted = {(c.start, c.end): c.label for c in scores.decoded(used)}
    order = sorted(range(len(scores.spans)), key=lambda k: (tuple(scores.spans[k]) not in predicted, not kept[k], k))
    out = []
    for k in order[:limit]:
        s, e = (int(x) for x in scores.spans[k])
        words = " ".join(scores.words[s:e])
        words = words if len(words) <= 50 else words[:49] + "…"
        tag = f"predicted {predicted[(s, e)]}" if (s, e) in predicted else ("kept" if kept[k] else "pruned")
        out.append((f"{words}  [{s}:{e}] · {tag}", f"{s}:{e}"))
    return out


def _parse_span(value: Any) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    m = re.search(r"(\d+)\s*[:,-]\s*(\d+)", str(value or ""))
    if not m:
        raise InputError(f"Choose a candidate span (or type START:END word indices), got {value!r}.")
    return int(m.group(1)), int(m.group(2))


def attention(ctx: AppContext, text: str, model_name: str, span: Any) -> tuple[Any, str]:
    """Cross-attention view: heat-maps of the span's start/end queries per head and averaged, and a caption."""
    from .span_decoder import cross_attention

    text, _ = clean_text(text, ctx.limits.max_chars)
    entry = get_entry(ctx, model_name)
    if entry.base_strategy not in ("spandec", "sf-spandec"):
        raise InputError(f"{model_name} is a {entry.strategy} model; cross-attention needs a SpanDec or SF-SpanDec model.")
    s, e = _parse_span(span)
    try:
        with ctx.lock(entry.model):
            att = cross_attention(entry.model, text, (s, e))
    except ValueError as exc:
        raise InputError(f"Span {s}:{e} is not a candidate span of this text ({exc}).") from None
    words = " ".join(att["words"])
    caption = (f"Span [{s}:{e}] “{words[:80]}”: {att['weights'].shape[0]} decoder layer(s), "
               f"{att['weights'].shape[2]} heads, {len(att['keys']) - 2} text tokens plus the two marker keys.")
    return attention_heatmaps(att), caption
