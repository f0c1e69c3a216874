"""The span-filter and cross-attention views of SpanDec / SF-SpanDec models (figures from :mod:`.figures`)."""

from __future__ import annotations

import re
from typing import Any

from ..models.explain import cross_attention, kept_summary
from .context import AppContext, InputError, check_threshold, clean_text, get_entry
from .figures import attention_heatmaps, attention_window, span_grid, token_strip, window_title, word_window

__all__ = ["span_filter", "span_choices", "attention"]


def _first(value: Any, what: str) -> int | None:
    """A 1-based "first word/token shown" as a 0-based index (None when not given)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return max(0, int(float(value)) - 1)
    except (TypeError, ValueError):
        raise InputError(f"The first {what} shown must be a whole number, got {value!r}.") from None


def span_filter(ctx: AppContext, text: str, model_name: str, threshold: float,
                start_word: Any = 1) -> tuple[Any, Any, str, int]:
    """Span-filter view: heat strip of word entity probabilities and the span grid over a window of
    ``ctx.limits.max_grid_words`` words from ``start_word`` (1-based), the kept-span summary and the word count."""
    if not model_name:
        raise InputError("No SpanDec or SF-SpanDec model is loaded.")
    text, notes = clean_text(text, ctx.limits.max_chars, ctx.limits.max_file_chars)
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
    start, n = word_window(len(scores.words), _first(start_word, "word") or 0, limit)
    if len(scores.words) > limit:
        summary += (f"  \nThe figures show **{window_title(start, n, len(scores.words))}** (move “First word shown” "
                    "to see the others); the counts cover all of them.")
    if notes:
        summary += "  \n" + " ".join(notes)
    probs = None if scores.token_probs is None else scores.token_probs.tolist()
    return (token_strip(scores.words, probs, used, limit, start), span_grid(scores, used, limit, start), summary,
            len(scores.words))


def span_choices(ctx: AppContext, text: str, model_name: str, threshold: float, limit: int = 2000) -> list[tuple[str, str]]:
    """``(label, "start:end")`` choices of candidate spans: predicted entities first, then kept, then pruned."""
    text, _ = clean_text(text, ctx.limits.max_chars, ctx.limits.max_file_chars)
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


def attention(ctx: AppContext, text: str, model_name: str, span: Any, threshold: Any = None,
              start_token: Any = None) -> tuple[Any, str]:
    """Cross-attention view: heat-maps of the span's start/end queries per head and averaged over a window of
    tokens from ``start_token`` (1-based; empty or 0: centred on the span), and a caption naming the window.
    Without a span: the first entity predicted at ``threshold``, else the first candidate span."""
    text, _ = clean_text(text, ctx.limits.max_chars, ctx.limits.max_file_chars)
    entry = get_entry(ctx, model_name)
    if not entry.has_span_decoder:
        raise InputError(f"{model_name} is a {entry.strategy} model; cross-attention needs a SpanDec or SF-SpanDec model.")
    if span is None or (isinstance(span, str) and not span.strip()):
        first = span_choices(ctx, text, model_name, entry.threshold(threshold), limit=1)
        if not first:
            raise InputError("This text has no candidate span.")
        span = first[0][1]
    s, e = _parse_span(span)
    try:
        with ctx.lock(entry.model):
            att = cross_attention(entry.model, text, (s, e))
    except ValueError as exc:
        raise InputError(f"Span {s}:{e} is not a candidate span of this text ({exc}).") from None
    words = " ".join(att["words"])
    first = _first(start_token, "token") if start_token not in (0, "0") else None
    start, n = attention_window(att, first)
    caption = (f"Span [{s}:{e}] “{words[:80]}”: {att['weights'].shape[0]} decoder layer(s), "
               f"{att['weights'].shape[2]} heads; showing the two marker keys and **"
               f"{window_title(start, n, len(att['keys']) - 2, 'tokens')}** of the span's encoder window "
               "(move “First token shown”; 0 centres the window on the span).")
    return attention_heatmaps(att, start), caption
