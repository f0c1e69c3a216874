"""The highlight and compare views: entities of one text by one model, or by every served model side by side."""

from __future__ import annotations

from typing import Sequence

from ..models import PredictStats
from .colors import DISAGREE_LABEL
from .context import AppContext, check_request, check_threshold, clean_text, ready_entries, run_model

__all__ = ["segments", "entity_rows", "highlight", "compare", "ENTITY_HEADERS", "SUMMARY_HEADERS"]

ENTITY_HEADERS = ["text", "label", "score", "start", "end"]
SUMMARY_HEADERS = ["model", "strategy", "entities", "latency (ms)", "spans decoded", "candidate spans", "status"]


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


def _stats_text(stats: PredictStats) -> str:
    if not stats.candidates:
        return "no span enumeration (token classifier)"
    c, d = stats.candidates, stats.decoded
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
    check_request(ctx, list(ready), [text])
    for name, entry in ctx.pool.entries.items():
        if name not in ready:
            highlighted.append(None)
            summary.append([name, "-", "-", "-", "-", "-", f"not loaded: {entry.error}"])
            continue
        entities, ms, stats = run_model(ctx, name, text, thr, check=False)
        by_model[name] = {(e["char_start_index"], e["char_end_index"]): e["label"] for e in entities}
        highlighted.append(segments(text, entities))
        summary.append([name, entry.strategy, len(entities), round(ms, 1), stats.decoded if stats.candidates else "-",
                        stats.candidates or "-", "ok" + (f" (threshold {entry.threshold(thr):.2f})"
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
