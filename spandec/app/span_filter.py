"""The span-filter and cross-attention views of SpanDec / SF-SpanDec models (figures from :mod:`.figures`)."""

from __future__ import annotations

import re
from typing import Any

from ..models import SpanDecConfig, is_span_decoder
from ..models.explain import cross_attention, kept_summary
from .context import AppContext, InputError, check_threshold, clean_text, get_entry
from .figures import attention_heatmaps, span_grid, token_strip

__all__ = ["span_filter", "span_choices", "attention"]


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


def attention(ctx: AppContext, text: str, model_name: str, span: Any, threshold: Any = None) -> tuple[Any, str]:
    """Cross-attention view: heat-maps of the span's start/end queries per head and averaged, and a caption.
    Without a span: the first entity predicted at ``threshold``, else the first candidate span."""
    text, _ = clean_text(text, ctx.limits.max_chars)
    entry = get_entry(ctx, model_name)
    if not is_span_decoder(entry.base_strategy):
        raise InputError(f"{model_name} is a {entry.strategy} model; cross-attention needs a SpanDec or SF-SpanDec model.")
    if span is None or (isinstance(span, str) and not span.strip()):
        first = span_choices(ctx, text, model_name, SpanDecConfig.threshold if threshold is None else threshold, limit=1)
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
    caption = (f"Span [{s}:{e}] “{words[:80]}”: {att['weights'].shape[0]} decoder layer(s), "
               f"{att['weights'].shape[2]} heads, {len(att['keys']) - 2} text tokens plus the two marker keys.")
    return attention_heatmaps(att), caption
