"""Figures, HTML and Markdown of an analysis report (:func:`spandec.analysis.analyse`), shared by the app's Analyse
view and ``spandec analyse``: F1 by bucket with support, error kinds, the span filter's curve, disagreements."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis import DIMENSIONS, KINDS
from .colors import label_color

__all__ = ["bucket_figure", "kinds_figure", "filter_figure", "disagreement_html", "filter_disagreements",
           "markdown", "write_report", "bucket_rows", "BUCKET_HEADERS", "kind_rows", "KIND_HEADERS", "lost_rows",
           "LOST_HEADERS", "disagreement_choices"]

BUCKET_HEADERS = ["model", "dimension", "bucket", "support", "predicted", "correct", "precision", "recall", "F1"]
KIND_HEADERS = ["model", "F1", *KINDS]
LOST_HEADERS = ["model", "sentence", "entity", "label", "lowest word probability", "why"]


def bucket_figure(report: dict, dimension: str) -> go.Figure:
    """F1 per bucket of ``dimension``, one bar per model side by side; each bucket's support in its name."""
    fig = go.Figure()
    first = next(iter(report["models"].values()), None)
    if first is None:
        return fig
    buckets = list(first["buckets"][dimension])
    for name, m in report["models"].items():
        b = m["buckets"][dimension]
        fig.add_bar(name=name, x=[f"{k}<br>n={b[k]['support'] if k in b else 0}" for k in buckets],
                    y=[b[k]["f1"] if k in b else None for k in buckets],
                    customdata=[[b[k]["support"], b[k]["predicted"], b[k]["correct"]] if k in b else [0, 0, 0]
                                for k in buckets],
                    hovertemplate=f"{name}<br>%{{x}}<br>F1 %{{y:.1f}}<br>gold %{{customdata[0]}}, predicted "
                                  "%{customdata[1]}, correct %{customdata[2]}<extra></extra>")
    note = ("" if dimension != "seen in training" else
            "<br><sub>" + "; ".join(f"{n}: {html.escape(m['training_data'])}" for n, m in report["models"].items())[:300]
            + "</sub>")
    fig.update_layout(barmode="group", title=f"F1 by {dimension} (n = gold entities in the bucket){note}",
                      yaxis=dict(title="F1", range=[0, 100]), height=340, margin=dict(l=50, r=10, t=60, b=40))
    return fig


def kinds_figure(report: dict) -> go.Figure:
    """Error counts per kind, one bar per model side by side."""
    fig = go.Figure()
    for name, m in report["models"].items():
        fig.add_bar(name=name, x=list(KINDS), y=[m["error_counts"][k] for k in KINDS])
    fig.update_layout(barmode="group", title="Error kinds", yaxis_title="errors", height=320,
                      margin=dict(l=50, r=10, t=40, b=30))
    return fig


def filter_figure(report: dict) -> go.Figure:
    """For each model with a span filter: gold entities surviving, spans decoded and F1 (%) against the threshold,
    measured ms per sentence on the second axis."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if not report["filter"]:
        fig.update_layout(title="No loaded model has a span filter (SF-SpanDec)", height=200)
        return fig
    for curve in report["filter"]:
        xs = [p["threshold"] for p in curve["points"]]
        name = curve["model"]
        for key, label, dash in (("gold_kept", "gold entities kept %", "solid"), ("decoded", "spans decoded %", "dot"),
                                 ("f1", "F1", "dash")):
            fig.add_scatter(x=xs, y=[p[key] for p in curve["points"]], name=f"{name}: {label}", mode="lines+markers",
                            line=dict(dash=dash), secondary_y=False)
        if any(p["ms_per_sentence"] is not None for p in curve["points"]):
            fig.add_scatter(x=xs, y=[p["ms_per_sentence"] for p in curve["points"]], name=f"{name}: ms / sentence",
                            mode="lines+markers", line=dict(dash="longdash", color="#555"), secondary_y=True)
        fig.add_vline(x=curve["threshold"], line_dash="dot", line_color="#999",
                      annotation_text=f"{name} at {curve['threshold']:g}")
    fig.update_yaxes(title_text="%", range=[0, 101], secondary_y=False)
    fig.update_yaxes(title_text="ms per sentence (measured)", secondary_y=True, rangemode="tozero")
    fig.update_layout(title="The span filter: what survives each threshold", xaxis_title="threshold", height=380,
                      margin=dict(l=50, r=50, t=50, b=40), legend=dict(font=dict(size=10)))
    return fig


def _render_line(words: Sequence[str], spans: Sequence[Sequence], gold: set | None) -> str:
    """One row of a disagreement: words with entity spans highlighted; spans not in ``gold`` are outlined red."""
    starts = {int(s): (int(e), lab) for s, e, lab in spans}
    out, i = [], 0
    while i < len(words):
        if i in starts:
            e, lab = starts[i]
            wrong = gold is not None and (i, e, lab) not in gold
            border = "2px solid #d62728" if wrong else "1px solid transparent"
            out.append(f'<mark style="background:{label_color(lab)};border:{border};padding:0 3px;border-radius:3px">'
                       f'{html.escape(" ".join(words[i:e]))} <b style="font-size:0.75em">{html.escape(lab)}</b></mark>')
            i = e
        else:
            out.append(html.escape(words[i]))
            i += 1
    return " ".join(out)


def disagreement_html(row: dict) -> str:
    """Gold and every model's entities one under the other (a wrong entity outlined red, a missed one listed)."""
    gold = {tuple(e) for e in row["gold"]}
    lines = [f'<tr><th style="text-align:left;padding-right:12px">gold</th><td>{_render_line(row["words"], row["gold"], None)}</td></tr>']
    for name, ents in row["models"].items():
        missed = [" ".join(row["words"][e["gold"][0]:e["gold"][1]]) for e in row["errors"][name] if e["kind"] == "missed"]
        note = f'<br><small style="color:#d62728">missed: {html.escape(", ".join(missed))}</small>' if missed else ""
        lines.append(f'<tr><th style="text-align:left;padding-right:12px">{html.escape(name)}</th>'
                     f'<td>{_render_line(row["words"], ents, gold)}{note}</td></tr>')
    kinds = ", ".join(row["kinds"]) or "models differ"
    return (f'<div class="disagreement" style="margin:8px 0;line-height:2"><div><b>sentence {row["sentence"] + 1}</b>: '
            f'{row["wrong"]} model(s) differ from gold, {row["distinct"]} distinct outputs ({html.escape(kinds)})</div>'
            f'<table>{"".join(lines)}</table></div>')


def filter_disagreements(rows: Sequence[dict], label: str | None = None, kind: str | None = None) -> list[dict]:
    """The disagreements involving ``label`` (any entity of gold or a model) and ``kind`` (any model's error)."""
    return [r for r in rows if (not label or label in r["labels"]) and (not kind or kind in r["kinds"])]


def disagreement_choices(rows: Sequence[dict], limit: int = 500) -> list[tuple[str, int]]:
    """``(caption, index)`` pairs for a picker: the sentence's start and how many models disagree."""
    return [(f"#{r['sentence'] + 1} ({r['wrong']} wrong, {r['distinct']} outputs): {' '.join(r['words'])[:70]}", k)
            for k, r in enumerate(rows[:limit])]


def bucket_rows(report: dict) -> list[list]:
    """Every model's buckets as table rows."""
    return [[name, dim, b, v["support"], v["predicted"], v["correct"], v["precision"], v["recall"], v["f1"]]
            for name, m in report["models"].items() for dim in DIMENSIONS for b, v in m["buckets"][dim].items()]


def kind_rows(report: dict) -> list[list]:
    """F1 and error counts per model."""
    return [[name, m["f1"], *(m["error_counts"][k] for k in KINDS)] for name, m in report["models"].items()]


def lost_rows(report: dict, limit: int = 500) -> list[list]:
    """Gold entities the filter drops at each model's threshold."""
    return [[c["model"], x["sentence"] + 1, x["text"], x["label"], x["min_word_probability"], x["why"]]
            for c in report["filter"] for x in c["lost"][:limit]]


def _md_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    cell = lambda v: "" if v is None else str(v).replace("|", "\\|")
    return "\n".join(["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
                     + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows])


def markdown(report: dict, command: str = "", seconds: float | None = None, top: int = 20) -> str:
    """The report as Markdown: totals and kinds, buckets, filter curve, lost entities, the top disagreements."""
    parts = [f"# Error analysis on {report['gold']}", "",
             f"{report['sentences']} sentences, {report['gold_entities']} gold entities."
             + (f" Whole analysis: {seconds:.1f} s." if seconds is not None else ""), ""]
    if command:
        parts += ["```bash", command, "```", ""]
    parts += ["## Totals and error kinds", "", _md_table(KIND_HEADERS, kind_rows(report)), "",
              "Training data (seen/unseen): " + "; ".join(f"{n}: {m['training_data']}" for n, m in report["models"].items()),
              "", "## Buckets", "", _md_table(BUCKET_HEADERS, bucket_rows(report)), ""]
    for c in report["filter"]:
        parts += [f"## Span filter of {c['model']} (current threshold {c['threshold']:g})", "",
                  _md_table(["threshold", "gold kept %", "spans decoded %", "F1", "ms / sentence"],
                            [[p["threshold"], p["gold_kept"], p["decoded"], p["f1"], p["ms_per_sentence"]]
                             for p in c["points"]]), "",
                  f"{len(c['lost'])} gold entities lost at {c['threshold']:g}:", "",
                  _md_table(LOST_HEADERS[2:], [[x["text"], x["label"], x["min_word_probability"], x["why"]]
                                               for x in c["lost"][:50]]), ""]
    parts += [f"## Disagreements ({len(report['disagreements'])} sentences; the first {top})", ""]
    for r in report["disagreements"][:top]:
        parts.append(f"- sentence {r['sentence'] + 1} ({r['wrong']} wrong, {', '.join(r['kinds'])}): "
                     + " ".join(r["words"]))
        parts += [f"  - {n}: " + ", ".join(f"{' '.join(r['words'][s:e])} [{lab}]" for s, e, lab in ents)
                  for n, ents in [("gold", r["gold"]), *r["models"].items()]]
    return "\n".join(parts) + "\n"


def write_report(report: dict, out: str | Path, command: str = "", seconds: float | None = None,
                 top: int = 200) -> list[Path]:
    """Write ``analysis.json``, ``analysis.md`` and ``analysis.html`` (plotly figures, the top disagreements)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "analysis.json", out / "analysis.md", out / "analysis.html"]
    paths[0].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(report, command, seconds), encoding="utf-8")
    figs = [kinds_figure(report), *(bucket_figure(report, d) for d in DIMENSIONS), filter_figure(report)]
    body = "".join(f.to_html(full_html=False, include_plotlyjs=(k == 0)) for k, f in enumerate(figs))
    dis = "".join(disagreement_html(r) for r in report["disagreements"][:top])
    paths[2].write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Error analysis on "
                        f"{html.escape(report['gold'])}</title></head><body style='font-family:system-ui'>"
                        f"<h1>Error analysis on {html.escape(report['gold'])}</h1><p>{report['sentences']} sentences, "
                        f"{report['gold_entities']} gold entities.</p><pre>{html.escape(command)}</pre>{body}"
                        f"<h2>Disagreements (first {min(top, len(report['disagreements']))} of "
                        f"{len(report['disagreements'])})</h2>{dis}</body></html>", encoding="utf-8")
    return paths
