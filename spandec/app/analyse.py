"""The Analyse view: why the loaded models differ on the user's own gold data (an uploaded file or a project's
accepted annotations), and a serving choice to take away as a config file.

:func:`run` scores every loaded model once (a cancellable job, as file tagging) and returns the report of
:func:`spandec.analysis.analyse`; the other functions turn a report into the view's figures, tables and HTML
without running a model.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Callable

import pandas as pd

from ..analysis import (DIMENSIONS, KINDS, THRESHOLDS, analyse, committee_disagreement, measure_ms,
                        read_gold, run_models)
from ..data import DataError, Sentence
from ..models.runtime import PRECISIONS
from ..store import Store, StoreError
from ..store import projects as P
from ..store.formats import doc_sentence
from . import analyse_report as R
from .batch import check_lengths, uploaded_file
from .context import AppContext, InputError, check_request, check_threshold, get_entry, ready_entries, run_model
from .pool import ModelSpec, serving_config

__all__ = ["run", "view", "gold_sentences", "buckets", "disagreements", "show_disagreement", "export_config",
           "PRECISION_CHOICES", "summary", "score_committee"]

Progress = Callable[[float, str], None]
PRECISION_CHOICES = ("auto", *PRECISIONS)
SPEED_SAMPLE = 32  # sentences timed at each threshold of the filter curve


def gold_sentences(ctx: AppContext, path: Any, store: Store | None = None, project: str | None = None,
                   max_sentences: int | None = None) -> tuple[str, list[Sentence]]:
    """The gold data: an uploaded file (CoNLL, JSONL with spans, Label Studio, doccano) or, without one, the accepted
    annotations of ``project`` (one annotator's per text); ``(name, sentences)``."""
    if path:
        p = uploaded_file(path, ctx.limits, "a gold file first")
        try:
            name, sentences = p.name, read_gold(p)
        except (DataError, ValueError) as exc:
            raise InputError(f"Could not read {p.name} as gold data: {str(exc).replace(str(p), p.name)}") from None
    elif project:
        if store is None:
            raise InputError("No annotation database is open (start the app with --db PATH).")
        try:
            proj = P.get_project(store, project)
            rows = P.project_annotations(store, proj)
        except (StoreError, ValueError) as exc:
            raise InputError(str(exc)) from None
        seen, sentences = set(), []
        for r in rows:
            if r["text_id"] not in seen:
                seen.add(r["text_id"])
                sentences.append(doc_sentence(r["text"], r["entities"], r["source_id"]))
        name = f"project {project} (accepted annotations)"
        if not sentences:
            raise InputError(f"Project {project!r} has no accepted annotation yet.")
    else:
        raise InputError("Upload a gold file, or choose a project whose accepted annotations are the gold data.")
    limit = max(1, min(int(max_sentences or ctx.limits.max_eval_sentences), ctx.limits.max_eval_sentences))
    return name, sentences[:limit]


def run(ctx: AppContext, path: Any, threshold: float, max_sentences: int | None = None, store: Store | None = None,
        project: str | None = None, progress: Progress | None = None, session: str | None = None) -> dict:
    """Score every loaded model on the gold data once, time the span filter's thresholds, and return the report.

    A cancellable job of ``session`` (``ctx.cancel``) that holds each model one forward pass at a time."""
    thr = check_threshold(threshold)
    name, sentences = gold_sentences(ctx, path, store, project, max_sentences)
    words = [s.words for s in sentences]
    check_lengths(name, words, ctx.limits, what="sentence")
    entries, models = ready_entries(ctx), {}
    for e in entries:  # one run per distinct set of weights
        models.setdefault(id(e.model), e)
    if not models:
        raise InputError("No model is loaded, so there is nothing to analyse.")
    check_request(ctx, [e.name for e in models.values()], words, what=name, seconds=ctx.limits.job_seconds)
    timed: dict[int, dict[float, float]] = {}
    with ctx.job(session) as job:
        outputs = run_models([(e.name, e.model, e.spec.source) for e in models.values()], sentences, threshold=thr,
                             progress=(lambda f, d: progress(0.9 * f, d)) if progress else None, pause=job.pause,
                             hold=job.using)
        for key, e in models.items():
            if e.model.has_span_filter:
                if progress:
                    progress(0.9, f"timing {e.name} at {len(THRESHOLDS)} thresholds")
                timed[key] = measure_ms(e.model, words[:SPEED_SAMPLE], THRESHOLDS, hold=job.using)
    by_model = {key: out for key, out in zip(models, outputs)}
    outputs, ms = [], {}
    for e in entries:  # every served entry, sharing its weights' scores; a pinned threshold (NAME=...@T) wins
        out = by_model[id(e.model)]
        filt = out.has_filter and e.strategy == "sf-spandec"
        outputs.append(replace(out, name=e.name, strategy=e.strategy, has_filter=filt,
                               threshold=e.threshold(thr) if filt else 0.0))
        if filt and id(e.model) in timed:
            ms[e.name] = timed[id(e.model)]
    if progress:
        progress(1.0, "done")
    return analyse(outputs, sentences, name, ms)


def summary(report: dict) -> str:
    """One paragraph about the analysed data."""
    n_dis = len(report["disagreements"])
    return (f"Analysed **{report['sentences']}** sentences of {report['gold']} ({report['gold_entities']} gold "
            f"entities) with {len(report['models'])} model(s); **{n_dis}** sentences where the models disagree with "
            "each other or with gold. Bars show F1 per bucket; n is the bucket's gold support.")


def view(report: dict) -> tuple:
    """What the view shows of a fresh report: summary, error-kind figure and table, filter figure, lost entities
    (tables as DataFrames), and the labels the disagreements involve."""
    return (summary(report), R.kinds_figure(report), _df(R.kind_rows(report), R.KIND_HEADERS), R.filter_figure(report),
            _df(R.lost_rows(report), R.LOST_HEADERS), sorted({x for d in report["disagreements"] for x in d["labels"]}))


def _df(rows: list[list], headers: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=headers)


def buckets(report: dict | None, dimension: str) -> tuple[Any, pd.DataFrame]:
    """The bucket figure of ``dimension`` and its table (every model)."""
    if not report:
        raise InputError("Press “Analyse” first.")
    if dimension not in DIMENSIONS:
        raise InputError(f"Unknown bucket {dimension!r}; choose from {', '.join(DIMENSIONS)}.")
    return R.bucket_figure(report, dimension), _df([r for r in R.bucket_rows(report) if r[1] == dimension],
                                                   R.BUCKET_HEADERS)


def disagreements(report: dict | None, label: str | None, kind: str | None) -> tuple[list[tuple[str, int]], str]:
    """The disagreement picker's choices for a label and an error kind ("" or None: any), and a caption."""
    if not report:
        raise InputError("Press “Analyse” first.")
    if kind and kind not in KINDS:
        raise InputError(f"Unknown error kind {kind!r}; choose from {', '.join(KINDS)}.")
    rows = R.filter_disagreements(report["disagreements"], label or None, kind or None)
    return (R.disagreement_choices(rows), f"{len(rows)} of {len(report['disagreements'])} disagreements match"
            + (f" (the first {min(500, len(rows))} listed)" if len(rows) > 500 else "") + ".")


def show_disagreement(report: dict | None, label: str | None, kind: str | None, index: Any) -> str:
    """The chosen disagreement (``index`` into the filtered list) rendered with gold and every model."""
    if not report:
        raise InputError("Press “Analyse” first.")
    rows = R.filter_disagreements(report["disagreements"], label or None, kind or None)
    try:
        k = int(index)
    except (TypeError, ValueError):
        raise InputError("Choose a disagreement from the list.") from None
    if not 0 <= k < len(rows):
        raise InputError("That disagreement is not in the filtered list any more; choose again.")
    return R.disagreement_html(rows[k])


def export_config(ctx: AppContext, report: dict | None, model: str, precision: str, threshold: float) -> tuple[str, str]:
    """Write the serving choice (model, precision, threshold) as a config file ``app.py --config`` and
    ``spandec predict --config`` load; ``(path, note with the point's F1 and speed when the report has them)``."""
    entry = get_entry(ctx, model)
    if precision not in PRECISION_CHOICES:
        raise InputError(f"Unknown precision {precision!r}; choose from {', '.join(PRECISION_CHOICES)}.")
    thr = check_threshold(threshold) if entry.has_filter else None
    spec = ModelSpec(entry.name, entry.spec.source, thr, precision)
    path = ctx.new_dir("serving") / "serving.json"
    path.write_text(json.dumps(serving_config(spec), indent=2) + "\n", encoding="utf-8")
    note = f"`{path.name}`: serve **{entry.name}** in {precision}" + ("" if thr is None else f" at threshold {thr:g}")
    curve = next((c for c in (report or {}).get("filter", []) if c["model"] == entry.name), None)
    point = next((p for p in curve["points"] if abs(p["threshold"] - (thr or 0)) < 1e-9), None) if curve else None
    if point:
        note += (f" (on {report['gold']}: F1 {point['f1']:.2f}, gold kept {point['gold_kept']:.1f} %"
                 + ("" if point["ms_per_sentence"] is None else f", {point['ms_per_sentence']:.1f} ms / sentence") + ")")
    elif report and entry.name in report["models"]:
        note += f" (on {report['gold']}: F1 {report['models'][entry.name]['f1']:.2f})"
    return str(path), note + ". Load it with `python app.py --config serving.json` or `spandec predict --config serving.json`."


def score_committee(ctx: AppContext, store: Store | None, project: str | None, threshold: float,
                    progress: Progress | None = None, session: str | None = None, limit: int = 500) -> str:
    """Query by committee: score the project's texts still wanted by how much the loaded models disagree
    (:func:`spandec.analysis.committee_disagreement`), so the queue order "models disagree most first" starts there.
    A cancellable job of ``session``; texts scored before a cancel keep their score."""
    if store is None:
        raise InputError("No annotation database is open (start the app with --db PATH).")
    thr = check_threshold(threshold)
    names = [e.name for e in ready_entries(ctx)]
    if len(names) < 2:
        raise InputError("Query by committee needs two or more loaded models.")
    try:
        proj = P.get_project(store, project or "")
    except (StoreError, ValueError) as exc:
        raise InputError(str(exc) or "Choose a project first.") from None
    todo, scores = P.unscored_texts(store, proj, limit, score="disagreement"), {}
    try:
        with ctx.job(session) as job:
            for k, (tid, text) in enumerate(todo):
                job.pause()
                if progress and k % 5 == 0:
                    progress(k / max(1, len(todo)), f"text {k + 1} of {len(todo)}")
                preds = [run_model(ctx, n, text, thr, check=False)[0] for n in names]
                scores[tid] = committee_disagreement([[(e["char_start_index"], e["char_end_index"], e["label"]) for e in p]
                                                        for p in preds])
    finally:
        P.set_uncertainty(store, scores, score="disagreement")
    return (f"Scored {len(scores)} texts by how much {len(names)} models disagree ({', '.join(names)}); choose "
            "“models disagree most first” to annotate those first.")
