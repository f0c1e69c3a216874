"""Plotly figures of the web app: token heat strip, span grid, cross-attention maps, latency-vs-F1.

Figures take plain data (no model), so they can be drawn from cached scores or
stored results. Every user-supplied string is HTML-escaped before it reaches plotly,
whose labels understand a little HTML: text such as ``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .colors import CANDIDATE_COLOR, KEPT_COLOR, PRUNED_COLOR, color_map

__all__ = ["window_title", "word_window", "attention_window", "token_strip", "span_grid", "attention_heatmaps", "tradeoff_plot", "empty_figure", "esc"]

_FONT = dict(size=11)
_MARGIN = dict(l=10, r=10, t=40, b=10)


def esc(text: Any, limit: int = 40) -> str:
    """``text`` made safe for a plotly label: HTML-escaped, control characters dropped, cut to ``limit``."""
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def empty_figure(message: str = "", height: int = 160) -> go.Figure:
    """A blank figure showing ``message`` in its middle."""
    fig = go.Figure()
    fig.update_layout(height=height, margin=_MARGIN, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor="white", paper_bgcolor="white")
    if message:
        fig.add_annotation(text=esc(message, 200), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font=dict(size=13, color="#666"))
    return fig


def window_title(start: int, n: int, total: int, what: str = "words") -> str:
    """The window shown, 1-based and inclusive: "words 61–120 of 250"."""
    return f"{what} {start + 1}–{start + n} of {total}"


def word_window(total: int, start: int, size: int | None) -> tuple[int, int]:
    """``(start, n)``: the window of ``size`` words from ``start``, moved back to fit inside ``total``."""
    n = total if size is None else min(total, size)
    return max(0, min(int(start or 0), total - n)), n


def token_strip(words: Sequence[str], probs: Sequence[float] | None, threshold: float,
                max_words: int | None = None, start: int = 0) -> go.Figure:
    """Heat strip of each word's entity probability (in %, one number per cell) over the window of ``max_words``
    words from ``start``; words below ``threshold`` get red labels."""
    if probs is None:
        return empty_figure("This model has no span filter: every candidate span is decoded.")
    start, n = word_window(len(words), start, max_words)
    if n == 0:
        return empty_figure("No words.")
    idx = list(range(start, start + n))
    p = np.asarray(probs[start : start + n], dtype=float)
    below = p < threshold if threshold > 0 else np.zeros(n, dtype=bool)
    shown = [esc(w, 14) for w in words[start : start + n]]
    ticks = [f"<span style='color:#c00'>{w}</span>" if b else w for w, b in zip(shown, below)]
    hover = [[f"word {i + 1}: {esc(w)}<br>p(entity) = {v:.3f}<br>" + ("below the threshold: spans through it are pruned"
                                                                    if b else "at or above the threshold")
              for i, w, v, b in zip(idx, words[start : start + n], p, below)]]
    fig = go.Figure(go.Heatmap(
        z=[p], x=idx, y=["p(entity) %"], zmin=0, zmax=1, colorscale="Blues", customdata=hover, xgap=2,
        text=[[f"{round(100 * v):d}" for v in p]], texttemplate="%{text}", textfont=dict(size=9),
        hovertemplate="%{customdata}<extra></extra>",
        colorbar=dict(thickness=10, len=1.0, title=dict(text="p", side="right")),
    ))
    fig.update_layout(
        title=dict(text=f"Entity probability per word in % ({window_title(start, n, len(words))}; threshold "
                        f"{threshold:.2f}; red words prune their spans)", font=dict(size=13)),
        height=150 + 7 * max(len(w) for w in shown), margin=dict(l=10, r=10, t=36, b=10), font=_FONT,
        xaxis=dict(tickmode="array", tickvals=idx, ticktext=ticks, tickangle=-90, side="bottom"),
    )
    return fig


def _thin(labels: list[str], cell_px: float, font_px: float = 12.0) -> list[str]:
    """Every k-th label (the others blank) so that labels ``cell_px`` apart never overlap."""
    step = max(1, int(np.ceil(font_px / max(cell_px, 1e-6))))
    return [t if i % step == 0 else "" for i, t in enumerate(labels)]


def _grid_categories(scores: Any, threshold: float) -> tuple[list[str], list[str], dict]:
    labels = scores.labels[1:]
    label_colors = color_map(labels)
    categories = ["pruned", "kept", "kept, entity but overlapped"] + [f"predicted {t}" for t in labels]
    colors = [PRUNED_COLOR, KEPT_COLOR, CANDIDATE_COLOR] + [label_colors[t] for t in labels]
    return categories, colors, {(c.start, c.end): c.label for c in scores.decoded(threshold)}


def span_grid(scores: Any, threshold: float, max_words: int = 60, start: int = 0) -> go.Figure:
    """Start-by-end grid of the candidate spans inside the window of ``max_words`` words from ``start``: pruned,
    kept, entity candidate, predicted (by label), hover scores. ``scores``: a :class:`~spandec.models.explain.SpanScores`."""
    words = scores.words
    start, n = word_window(len(words), start, max_words)
    if n == 0 or len(scores.spans) == 0:
        return empty_figure("No candidate spans.")
    kept, best = scores.kept(threshold), scores.probs.argmax(-1)
    categories, colors, predicted = _grid_categories(scores, threshold)
    labels = scores.labels[1:]
    z = np.full((n, n), np.nan)
    text = [["" for _ in range(n)] for _ in range(n)]
    for k, (s, e) in enumerate(scores.spans.tolist()):
        if s < start or e > start + n:
            continue
        key = (s, e)
        if key in predicted:
            cat = 3 + labels.index(predicted[key])
        else:
            cat = 0 if not kept[k] else (2 if best[k] != 0 else 1)
        z[s - start, e - 1 - start] = cat
        top = sorted(zip(scores.labels, scores.probs[k].tolist()), key=lambda x: -x[1])
        lines = [f"<b>{esc(' '.join(words[s:e]), 60)}</b>", f"words {s + 1}–{e} · {categories[cat]}"]
        if scores.has_filter:
            lines.append(f"min p(entity) of its words = {scores.min_prob[k]:.3f}")
        lines += [f"{esc(lab)}: {v:.3f}" for lab, v in top]
        text[s - start][e - 1 - start] = "<br>".join(lines)
    m = len(categories)
    scale = [pair for i, c in enumerate(colors) for pair in ([i / m, c], [(i + 1) / m, c])]
    idx = list(range(start, start + n))
    fig = go.Figure(go.Heatmap(z=z, x=idx, y=idx, zmin=-0.5, zmax=m - 0.5, colorscale=scale, showscale=False,
                               text=text, hovertemplate="%{text}<extra></extra>", xgap=1, ygap=1))
    used = {int(v) for v in z[~np.isnan(z)].ravel()}
    for i, (name, c) in enumerate(zip(categories, colors)):
        if i < 3 or i in used:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=esc(name),
                                     marker=dict(symbol="square", size=12, color=c, line=dict(width=1, color="#888"))))
    ticks = [esc(w, 14) for w in words[start : start + n]]
    height = min(1100, 200 + 15 * n)
    fig.update_layout(
        title=dict(text=f"Candidate spans in {window_title(start, n, len(words))}: start word (rows) × end word "
                        "(columns); hover for scores", font=dict(size=13)),
        height=height, margin=dict(l=10, r=10, t=70, b=10), font=_FONT, plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, font=dict(size=11)),
        xaxis=dict(tickmode="array", tickvals=idx, ticktext=_thin(ticks, 1200 / n), tickangle=-90, side="bottom",
                   title=dict(text="end word", font=dict(size=11)), showgrid=False, zeroline=False),
        yaxis=dict(tickmode="array", tickvals=idx, ticktext=_thin(ticks, (height - 180) / n), autorange="reversed",
                   title=dict(text="start word", font=dict(size=11)), showgrid=False, zeroline=False),
    )
    return fig


def attention_window(att: dict, start: int | None = None, size: int = 60) -> tuple[int, int]:
    """``(first, n)`` text tokens of ``att`` shown from ``start`` (None: centred on the span), ``size`` at most."""
    total = len(att["keys"]) - 2
    if start is None:
        first, last = att.get("span_tokens", (0, 0))
        start = (first + last) // 2 - size // 2
    return word_window(total, start, size)


def attention_heatmaps(att: dict, start: int | None = None, size: int = 60) -> go.Figure:
    """Heat-maps of one span's decoder attention over [start], [end] and a window of ``size`` text tokens from
    ``start`` (None: centred on the span): start and end query, rows = each head then their mean.

    ``att`` is the dict of :func:`spandec.cross_attention` (keys, weights of shape (layers, 2, heads, 2 + L)).
    """
    w = np.asarray(att["weights"], dtype=float)
    layers, _, heads, _ = w.shape
    first, n = attention_window(att, start, size)
    cols = [0, 1] + list(range(2 + first, 2 + first + n))
    keys = [esc(att["keys"][c], 14) for c in cols]
    rows, names = [], []
    for q in range(2):
        block = []
        for layer in range(layers):
            block += list(w[layer, q]) + [w[layer, q].mean(0)]
        rows.append(np.stack(block)[:, cols])
    for layer in range(layers):
        prefix = f"layer {layer + 1} · " if layers > 1 else ""
        names += [f"{prefix}head {h + 1}" for h in range(heads)] + [f"{prefix}mean"]
    span_words = esc(" ".join(att.get("words", [])), 60)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("start query", "end query"))
    zmax = float(max(r.max() for r in rows)) or 1.0
    x = list(range(len(cols)))
    for q, block in enumerate(rows):
        hover = [[f"{names[r]}<br>key {keys[c]}" + (f" (token {cols[c] - 1})" if c >= 2 else "")
                  + f"<br>weight {block[r, c]:.3f}" for c in x] for r in range(len(names))]
        fig.add_trace(go.Heatmap(z=block, x=x, y=list(range(len(names))), zmin=0, zmax=zmax,
                                 colorscale="Viridis", text=hover, hovertemplate="%{text}<extra></extra>",
                                 showscale=q == 0, colorbar=dict(thickness=10, title=dict(text="weight"))),
                      row=q + 1, col=1)
        fig.update_yaxes(tickmode="array", tickvals=list(range(len(names))), ticktext=names, autorange="reversed",
                         row=q + 1, col=1)
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=keys, tickangle=-90, tickfont=dict(size=10), row=2, col=1)
    window = window_title(first, n, len(att["keys"]) - 2, "tokens")
    fig.update_layout(
        title=dict(text=f"Decoder cross-attention of the span “{span_words}” over [start], [end] and {window} "
                        "of its encoder window", font=dict(size=13)),
        height=min(1000, 340 + 2 * 22 * len(names)), margin=dict(l=10, r=10, t=60, b=10), font=_FONT,
    )
    return fig


def tradeoff_plot(points: Sequence[dict], sweep: Sequence[dict] = (), current: dict | None = None,
                  x_title: str = "latency (ms per sentence)", title: str = "") -> go.Figure:
    """Latency (x) against F1 (y): one point per model, the SF-SpanDec threshold curve, the current threshold.

    ``points``: dicts with name, latency_ms, f1 and optional gflops/note; ``sweep``: threshold, latency_ms, f1,
    kept_fraction; ``current``: threshold, latency_ms, f1.
    """
    fig = go.Figure()
    pts = [p for p in points if p.get("f1") is not None and p.get("latency_ms") is not None]
    for p in pts:
        gfl = p.get("gflops")
        hover = (f"<b>{esc(p['name'])}</b><br>F1 {p['f1']:.2f}<br>{p['latency_ms']:.2f} ms/sentence"
                 + (f"<br>{gfl:.2f} GFLOPs" if isinstance(gfl, (int, float)) else "")
                 + (f"<br>{esc(p['note'], 80)}" if p.get("note") else ""))
        fig.add_trace(go.Scatter(x=[p["latency_ms"]], y=[p["f1"]], mode="markers+text", name=esc(p["name"]),
                                 text=[esc(p["name"])], textposition="top center", hovertext=[hover],
                                 hoverinfo="text", marker=dict(size=12)))
    sw = [s for s in sweep if s.get("f1") is not None and s.get("latency_ms") is not None]
    if sw:
        sw = sorted(sw, key=lambda s: s["threshold"])
        hover = [f"threshold {s['threshold']:.2f}<br>F1 {s['f1']:.2f}<br>{s['latency_ms']:.2f} ms/sentence"
                 + (f"<br>kept {100 * s['kept_fraction']:.1f} % of spans" if s.get("kept_fraction") is not None else "")
                 for s in sw]
        fig.add_trace(go.Scatter(x=[s["latency_ms"] for s in sw], y=[s["f1"] for s in sw], mode="lines+markers",
                                 name="SF-SpanDec over thresholds", hovertext=hover, hoverinfo="text",
                                 line=dict(dash="dot"), marker=dict(size=6)))
    if current and current.get("f1") is not None and current.get("latency_ms") is not None:
        fig.add_trace(go.Scatter(
            x=[current["latency_ms"]], y=[current["f1"]], mode="markers", name=f"threshold {current['threshold']:.2f}",
            hovertext=[f"current threshold {current['threshold']:.2f}<br>F1 {current['f1']:.2f}<br>"
                       f"{current['latency_ms']:.2f} ms/sentence"], hoverinfo="text",
            marker=dict(symbol="star", size=18, color="#d62728", line=dict(width=1, color="black"))))
    if not fig.data:
        return empty_figure(title or "No results to plot yet.", height=420)
    fig.update_layout(
        title=dict(text=esc(title, 160), font=dict(size=13)), height=460, margin=dict(l=10, r=10, t=50, b=10),
        font=_FONT, xaxis=dict(title=dict(text=x_title), rangemode="tozero"), yaxis=dict(title=dict(text="F1 (%)")),
        legend=dict(orientation="h", yanchor="top", y=-0.15, x=0),
    )
    return fig
