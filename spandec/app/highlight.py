"""The highlight and compare views: entities of one text by one model, or by every served model side by side."""

from __future__ import annotations

import html
from typing import Mapping, Sequence

from ..models import PredictStats
from .colors import DISAGREE_LABEL, color_map, text_color
from .context import AppContext, check_request, check_threshold, clean_text, ready_entries, run_model

__all__ = ["entity_rows", "render", "legend", "highlight", "compare", "ENTITY_HEADERS",
           "SUMMARY_HEADERS", "CSS"]

ENTITY_HEADERS = ["text", "label", "score", "start", "end"]
SUMMARY_HEADERS = ["model", "strategy", "entities", "latency (ms)", "spans decoded", "candidate spans", "status"]


#: Styles of :func:`render`: the text's own line breaks kept, words never broken (a word longer than the line
#: wraps only where it would otherwise overflow), the label in a chip inside its entity.
CSS = """
.ents {white-space: pre-wrap; word-break: normal; overflow-wrap: break-word; line-height: 2.2; font-size: 15px;
       max-width: 100%; overflow-x: hidden; padding: 4px 2px}
.ents .ent {padding: 0.15em 0.3em; border-radius: 0.35em; box-decoration-break: clone;
            -webkit-box-decoration-break: clone; cursor: help}
.ents .ent-label {font-size: 0.68em; font-weight: 700; margin-left: 0.35em; white-space: nowrap;
                  letter-spacing: 0.02em; vertical-align: 0.08em}
.ents-legend {display: flex; flex-wrap: wrap; gap: 6px; margin: 2px 0 4px; font-size: 13px}
.ents-legend .ent {padding: 0.1em 0.5em; border-radius: 0.35em; font-weight: 700}
.ents-empty {color: #666; font-style: italic}
.ents-model {font-weight: 700; font-size: 15px; margin: 10px 0 2px}
"""


def _chip(label: str, colors: Mapping[str, str]) -> str:
    bg = colors.get(label) or color_map([label])[label]
    return f'background:{bg};color:{text_color(bg)}'


def render(text: str, entities: Sequence[dict], colors: Mapping[str, str] | None = None, empty: str = "") -> str:
    """``text`` as escaped HTML with each entity marked in its label's colour, the label name in a chip inside it
    and label, score and offsets on hover; the text's own spaces and line breaks are kept, none added."""
    colors = dict(colors or {})
    colors.update({k: v for k, v in color_map([*colors, *(e["label"] for e in entities)]).items() if k not in colors})
    out, pos = [], 0
    for e in sorted(entities, key=lambda e: (e["char_start_index"], e["char_end_index"])):
        s, t = e["char_start_index"], e["char_end_index"]
        if s < pos:  # overlapping (not produced by flat decoding): skip rather than garble
            continue
        label = str(e["label"])
        score = f" · score {float(e['score']):.3f}" if e.get("score") is not None else ""
        title = html.escape(f"{label}{score} · characters {s}–{t}", quote=True)
        out.append(html.escape(text[pos:s]))
        out.append(f'<mark class="ent" data-label="{html.escape(label, quote=True)}" style="{_chip(label, colors)}" '
                   f'title="{title}">{html.escape(text[s:t])}<span class="ent-label">{html.escape(label)}</span></mark>')
        pos = t
    out.append(html.escape(text[pos:]))
    body = "".join(out) or f'<span class="ents-empty">{html.escape(empty)}</span>'
    return f'<div class="ents">{body}</div>'


def legend(labels: Sequence[str], colors: Mapping[str, str] | None = None) -> str:
    """A row of label chips in their colours (the key to :func:`render`)."""
    colors = colors or color_map(labels)
    chips = "".join(f'<span class="ent" data-label="{html.escape(x, quote=True)}" style="{_chip(x, colors)}">'
                    f'{html.escape(x)}</span>' for x in labels)
    return f'<div class="ents-legend">{chips}</div>'


def entity_rows(entities: Sequence[dict]) -> list[list]:
    """Table rows ``text, label, score, start, end`` of entity dicts."""
    return [[e["span"], e["label"], round(float(e.get("score", 1.0)), 4), e["char_start_index"], e["char_end_index"]]
            for e in entities]


def _stats_text(stats: PredictStats) -> str:
    if not stats.candidates:
        return "no span enumeration (token classifier)"
    c, d = stats.candidates, stats.decoded
    return f"{d} of {c} candidate spans decoded ({100 * d / c:.1f} %)"


def highlight(ctx: AppContext, text: str, model_name: str, threshold: float) -> tuple[str, list[list], str]:
    """Highlight view: the text as HTML with its entities marked (legend above), entity table rows, and a line with
    the call's latency."""
    text, notes = clean_text(text, ctx.limits.max_chars, ctx.limits.max_file_chars)
    thr = check_threshold(threshold)
    entities, ms, stats = run_model(ctx, model_name, text, thr)
    entry = ctx.pool.get(model_name)
    thr_note = f" at threshold {entry.threshold(thr):.2f}" if entry.has_filter else ""
    info = (f"**{model_name}**{thr_note}: {len(entities)} entit{'y' if len(entities) == 1 else 'ies'} in "
            f"**{ms:.1f} ms** on {entry.model.device.type.upper()} · {_stats_text(stats)} · hover an entity for its score")
    if notes:
        info += "  \n" + " ".join(notes)
    colors = color_map(ctx.pool.labels())
    page = legend(entry.labels, colors) + render(text, entities, colors, empty="(no entities found)")
    return page, entity_rows(entities), info


def compare(ctx: AppContext, text: str, threshold: float) -> tuple[list, list[list], list[list], list, list[str]]:
    """Compare view: per served model its highlighted pieces (None if unavailable), a summary table,
    the disagreement table (span, offsets, each model's label), highlighted disagreements and the table headers."""
    text, notes = clean_text(text, ctx.limits.max_chars, ctx.limits.max_file_chars)
    thr = check_threshold(threshold)
    highlighted, summary, by_model = [], [], {}
    colors = color_map(ctx.pool.labels())
    ready = {e.name: e for e in ready_entries(ctx)}
    check_request(ctx, list(ready), [text])
    for name, entry in ctx.pool.entries.items():
        if name not in ready:
            highlighted.append(None)
            summary.append([name, "-", "-", "-", "-", "-", f"not loaded: {entry.error}"])
            continue
        entities, ms, stats = run_model(ctx, name, text, thr, check=False)
        by_model[name] = {(e["char_start_index"], e["char_end_index"]): e["label"] for e in entities}
        head = f'<div class="ents-model">{html.escape(entry.label)}: {len(entities)} entities</div>'
        highlighted.append(head + legend(entry.labels, colors) + render(text, entities, colors, empty="(no entities)"))
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
    head = '<div class="ents-model">Where the models disagree (the table below says who found what)</div>'
    return highlighted, summary, rows, head + render(text, merged, empty="(the models agree)"), headers
