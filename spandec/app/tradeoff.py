"""The trade-off view: F1 (stored, or from an uploaded CoNLL file) against latency measured live, with GFLOPs.

An uploaded evaluation set is scored once per model. For SpanDec / SF-SpanDec the
encoder, token head and decoder run once over *all* candidate spans
(:func:`spandec.models.explain.score_spans`); any threshold is then re-scored by masking
the kept spans, flat decoding and seqeval, without running the encoder again.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..benchmark import strategy_of
from ..data import DataError, read_conll
from ..evaluation import predict_tags, score
from ..evaluation import rescore as rescore_spans
from ..flops import model_gflops as architecture_gflops
from ..flops import num_spans
from ..models.explain import score_spans
from ..spans import Document
from .batch import check_lengths, uploaded_file
from .context import AppContext, EvalSet, InputError, check_request, check_threshold, ready_entries
from .figures import empty_figure, tradeoff_plot

__all__ = [
    "SWEEP", "StoredResults", "load_stored_results", "EvalSet", "evaluate_upload", "rescore", "measure_latency",
    "model_gflops", "tradeoff", "TABLE_HEADERS", "BATCH_SIZES",
]

SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)  # thresholds of the SF-SpanDec curve
BATCH_SIZES = (1, 8, 32)
SERVING_FILE = "serving.json"  # comparisons/serving.py's results (F1 and speed per served form), beside the results
TABLE_HEADERS = ["model", "strategy", "F1", "precision", "recall", "ms / sentence", "timing", "GFLOPs", "spans kept %",
                 "scores of"]
Progress = Callable[[float, str], None]


# ----- stored results --------------------------------------------------------------------------
def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


@dataclass
class StoredResults:
    """The comparison scripts' results (e.g. ``comparisons/results/conllpp.json``), read tolerantly."""

    dataset: str
    split: str
    strategies: dict[str, dict]
    sweep: list[dict]
    sweep_batch: int = 8  # batch size of the sweep's throughput (compare.py times it at 8)
    forms: dict[tuple[str, str], dict] = field(default_factory=dict)  # (strategy, precision) -> serving.json row

    def f1(self, strategy: str) -> float | None:
        """Stored F1 of ``strategy``."""
        return _num(_get(self.strategies, strategy, "f1"))

    def scores(self, strategy: str, precision: str) -> tuple[float | None, float | None, float | None, str]:
        """F1, precision, recall of ``strategy`` served at ``precision`` and the form they were measured on: the
        serving benchmark's row of that form, else the comparison's (fp32) scores, said so."""
        form = self.forms.get((strategy, precision))
        row = self.strategies.get(strategy) or {}
        if form is not None and _num(form.get("f1")) is not None:
            p, r = _num(form.get("entity_precision")), _num(form.get("entity_recall"))
            if p is None and precision == "fp32" and _num(row.get("f1")) == _num(form.get("f1")):
                p, r = _num(row.get("precision")), _num(row.get("recall"))  # the same fp32 evaluation
            return _num(form.get("f1")), p, r, precision
        served = "fp32" if precision in ("fp32", "-", "") else f"fp32 ({precision}: none stored)"
        return _num(row.get("f1")), _num(row.get("precision")), _num(row.get("recall")), served

    def latency_ms(self, strategy: str, batch_size: int, precision: str = "fp32") -> float | None:
        """Stored ms per sentence at ``batch_size`` of ``strategy`` served at ``precision`` (the serving benchmark's
        row of that form, else the fp32 comparison): batch-1 p50 latency, else 1000 / throughput."""
        form = self.forms.get((strategy, precision))
        if form is not None:
            tput = _num(form.get(f"samples_per_s_b{batch_size}"))
            p50 = _num(form.get("p50_ms")) if batch_size == 1 else None
            if p50 is not None or tput:
                return p50 if p50 is not None else 1000.0 / tput
        if precision not in ("fp32", "-", ""):
            return None  # another form's speed would not be this one's
        if batch_size == 1:
            p50 = _num(_get(self.strategies, strategy, "latency_ms", "batch1", "p50"))
            if p50 is not None:
                return p50
        tput = _num(_get(self.strategies, strategy, "throughput", f"batch{batch_size}", "median"))
        tput = tput or _num(_get(self.strategies, strategy, f"throughput_batch{batch_size}"))
        return 1000.0 / tput if tput else None

    def gflops(self, strategy: str) -> float | None:
        """Stored GFLOPs per sentence: measured, else the formula on real sizes, else the paper's setting."""
        g = _get(self.strategies, strategy, "gflops")
        if not isinstance(g, dict):
            return _num(g)
        return next((_num(g[k]) for k in ("measured", "formula_real", "paper_S44_M324", "paper")
                     if _num(g.get(k)) is not None), None)

    def sweep_f1(self, threshold: float) -> float | None:
        """F1 at ``threshold``, interpolated linearly in the stored SF-SpanDec sweep."""
        return _interp(self.sweep, threshold, "f1")


def _interp(points: Sequence[dict], threshold: float, key: str) -> float | None:
    pts = sorted((p["threshold"], p[key]) for p in points if _num(p.get(key)) is not None and _num(p.get("threshold")) is not None)
    if not pts:
        return None
    xs, ys = zip(*pts)
    return float(np.interp(threshold, xs, ys))


def load_stored_results(path: str | Path | None) -> StoredResults | None:
    """Read stored results; None when there is no path, or the file is missing or unreadable (the view then asks for
    an upload)."""
    if path is None:
        return None
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    strategies = data.get("strategies") if isinstance(data.get("strategies"), dict) else {}
    sweep = []
    for row in data.get("sf_sweep") or []:
        if isinstance(row, dict) and _num(row.get("threshold")) is not None:
            sps = _num(row.get("samples_per_second"))
            sweep.append({"threshold": float(row["threshold"]), "f1": _num(row.get("f1")),
                          "kept_fraction": _num(row.get("kept_fraction")),
                          "latency_ms": 1000.0 / sps if sps else None})
    by_strategy: dict[str, dict] = {}
    for k, v in strategies.items():  # keys as compare.py writes them (older files: "spandec (sf-spandec@0)")
        if isinstance(v, dict):
            by_strategy.setdefault(strategy_of(k), v)
    sweep_batch = _num(_get(data, "sf_sweep_run", "batch_size")) or _num(_get(data, "throughput_run", "batch_size")) or 8
    return StoredResults(str(data.get("dataset", p.stem)), str(data.get("split", "test")), by_strategy, sweep,
                         int(sweep_batch), _served_forms(p.with_name(SERVING_FILE)))


def _served_forms(path: Path) -> dict[tuple[str, str], dict]:
    """``(strategy, precision) -> row`` of the serving benchmark's results next to the stored results, if any."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("results", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {(r["strategy"], r["precision"]): r for r in (rows.values() if isinstance(rows, dict) else rows)
            if isinstance(r, dict) and isinstance(r.get("strategy"), str) and isinstance(r.get("precision"), str)}


# ----- uploaded evaluation set ----------------------------------------------------------------
def evaluate_upload(ctx: AppContext, path: Any, max_sentences: int | float | None = None,
                    progress: Progress | None = None, session: str | None = None, chunk: int = 64) -> tuple[str, str]:
    """Read an uploaded CoNLL file and cache every loaded model's outputs on it, as a cancellable job
    (``ctx.cancel(session)``) holding each model ``chunk`` sentences at a time; returns (key, summary)."""
    p = uploaded_file(path, ctx.limits, "a CoNLL file (word ... tag per line, blank line between sentences) first")
    try:
        sentences = read_conll(p)
    except (DataError, ValueError) as exc:
        raise InputError(f"Could not read {p.name} as CoNLL: {str(exc).replace(str(p), p.name)}") from None
    limit = int(max_sentences) if max_sentences else ctx.limits.max_eval_sentences
    limit = max(1, min(limit, ctx.limits.max_eval_sentences))
    sentences = sentences[:limit]
    words = [s.words for s in sentences]
    check_lengths(p.name, words, ctx.limits, what="sentence")
    entries = ready_entries(ctx)
    if not entries:
        raise InputError("No model is loaded, so there is nothing to evaluate.")
    distinct = {id(e.model): e.name for e in entries}
    check_request(ctx, list(distinct.values()), words, what=p.name, seconds=ctx.limits.job_seconds)
    digest = hashlib.sha1(p.read_bytes()).hexdigest()[:12]
    key = f"{digest}:{len(sentences)}"
    evals = ctx.evaluations
    ev = EvalSet(p.name, sentences)
    seen: dict[int, str] = {}
    names = [e.name for e in entries]
    with ctx.job(session) as job:
        for i, entry in enumerate(entries):
            name = entry.name
            if id(entry.model) in seen:  # same weights (SpanDec / SF-SpanDec)
                ev.span_scores[name] = ev.span_scores[seen[id(entry.model)]]
                continue
            start, span_model = time.perf_counter(), entry.has_span_decoder
            out: list = []
            for c in range(0, len(words), chunk):
                if progress:
                    progress((i + c / len(words)) / len(names), f"{name}: sentences {c + 1}-{min(c + chunk, len(words))}")
                with job.using(entry.model):
                    out += (score_spans(entry.model, words[c : c + chunk], batch_size=32, pause=job.pause) if span_model
                            else predict_tags(entry.model, sentences[c : c + chunk], batch_size=32, pause=job.pause))
            if span_model:
                ev.span_scores[name] = out
                seen[id(entry.model)] = name
            else:
                ev.tags[name] = out
            ev.seconds[name] = time.perf_counter() - start
    if progress:
        progress(1.0, "done")
    evals[key] = ev
    while len(evals) > 2:  # keep memory bounded: the two latest uploads
        evals.pop(next(iter(evals)))
    n_gold = sum(len(s.entities) for s in sentences)
    return key, (f"Evaluated **{len(sentences)}** sentences ({n_gold} gold entities) of {p.name} with "
                 f"{len(names)} model(s); encoder outputs cached, so moving the threshold re-scores instantly.")


def rescore(ev: EvalSet, name: str, threshold: float) -> dict:
    """seqeval scores of model ``name`` on ``ev`` at ``threshold`` (span models re-scored from the cache)."""
    if name in ev.tags:
        result = score(ev.gold, ev.tags[name])
        result["kept_fraction"] = None
        return result
    return rescore_spans(ev.gold, ev.span_scores[name], threshold)


# ----- latency and GFLOPs ---------------------------------------------------------------------
def measure_latency(model, texts: Sequence[str | Sequence[str]], batch_size: int, options: dict | None = None,
                    repeats: int = 3) -> float:
    """Median wall time per text (ms) of ``model.predict_batch`` over ``texts`` at ``batch_size`` (after a warm-up)."""
    options = options or {}
    sync = (lambda: __import__("torch").cuda.synchronize()) if model.device.type == "cuda" else (lambda: None)
    model.predict_batch(list(texts[:batch_size]), batch_size=batch_size, **options)
    times = []
    for _ in range(max(1, repeats)):
        sync()
        start = time.perf_counter()
        model.predict_batch(list(texts), batch_size=batch_size, **options)
        sync()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times) / max(1, len(texts))


def model_gflops(model, texts: Sequence[str | Sequence[str]], kept_fraction: float = 1.0) -> float | None:
    """Mean Appendix-D GFLOPs per text of ``model`` on ``texts`` (:func:`spandec.flops.model_gflops` per text)."""
    values = []
    for item in texts:
        words = Document.from_input(item).words
        if not words:
            continue
        S = sum(model.subword_counts(words)) + 2
        M = 2 * num_spans(len(words), model.config.max_span_words)
        try:
            values.append(architecture_gflops(model, S, M, min(1.0, max(0.0, kept_fraction))))
        except (AttributeError, TypeError, ValueError):  # not a BERT-like encoder config
            return None
    return float(np.mean(values)) if values else None


def _sample(ctx: AppContext, eval_key: str | None, n: int = 32) -> tuple[str, list]:
    ev = ctx.evaluations.get(eval_key or "")
    if ev is not None:
        return eval_key, [s.words for s in ev.sentences[:n]]
    texts = ctx.examples or ["EU rejects German call to boycott British lamb.", "Peter Blackburn reports from Brussels."]
    return "examples", [texts[k % len(texts)] for k in range(max(n, len(texts)))][:n]


def measure(ctx: AppContext, batch_size: int, eval_key: str | None = None, progress: Progress | None = None,
            sample_size: int | None = None, repeats: int = 2) -> str:
    """Measure every loaded model's latency (and SF-SpanDec's over the threshold sweep) on this machine."""
    try:
        bs = int(batch_size)
    except (TypeError, ValueError):
        bs = -1
    if bs not in BATCH_SIZES:
        raise InputError(f"Batch size must be one of {', '.join(map(str, BATCH_SIZES))}, got {batch_size!r}.")
    sample_key, texts = _sample(ctx, eval_key, max(sample_size or ctx.latency_sample, bs))
    cache = ctx.latencies
    jobs = []
    entries = {e.name: e for e in ready_entries(ctx)}
    for name, entry in entries.items():
        if entry.has_filter and entry.spec.threshold is None:
            jobs += [(name, t) for t in SWEEP]
        else:
            jobs.append((name, None))
    if not jobs:
        raise InputError("No model is loaded, so there is nothing to time.")
    for i, (name, thr) in enumerate(jobs):
        if progress:
            progress(i / len(jobs), f"timing {name}" + ("" if thr is None else f" at threshold {thr:.1f}"))
        entry = entries[name]
        with ctx.lock(entry.model):
            ms = measure_latency(entry.model, texts, bs, entry.options(thr), repeats=repeats)
        cache[(name, bs, thr, sample_key)] = ms
    device = next(iter(entries.values())).model.device.type.upper()
    return f"Timed {len(jobs)} configurations at batch size {bs} on {len(texts)} sentences ({sample_key}) on {device}."


def _round(x: float | None, digits: int = 2, scale: float = 1.0) -> float | None:
    return None if x is None else round(float(x) * scale, digits)


def _sig(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.3g}")


# ----- the view ---------------------------------------------------------------------------------
@dataclass
class _View:
    """What one trade-off view draws: inputs and the rows, points, curve and star it collects."""

    ctx: AppContext
    thr: float
    bs: int
    ev: EvalSet | None
    stored: StoredResults | None
    sample_key: str
    texts: list
    rows: list = field(default_factory=list)
    points: list = field(default_factory=list)
    sweep: list = field(default_factory=list)
    current: dict | None = None
    notes: list = field(default_factory=list)


def _scores(v: _View, entry, used: float, is_sf: bool) -> tuple:
    """F1, precision, recall, spans kept and the form they belong to, for ``entry`` at threshold ``used``."""
    if v.ev is not None:
        res = rescore(v.ev, entry.name, used)
        return res["f1"], res["precision"], res["recall"], res["kept_fraction"], f"{entry.precision} (evaluated here)"
    f1, p, r, form = v.stored.scores(entry.strategy, entry.precision)
    kept = _interp(v.stored.sweep, used, "kept_fraction") if is_sf else None
    if is_sf and v.stored.sweep and abs(used - entry.config.threshold) > 1e-9:  # stored: at its own threshold
        f1, p, r, form = v.stored.sweep_f1(used), None, None, f"fp32 threshold sweep (at {used:.2f})"
    return f1, p, r, kept, form


def _sf_curve(v: _View, entry, used: float) -> float | None:
    """Set the SF-SpanDec threshold curve of ``entry`` (measured here, or stored for its form at this batch size);
    returns its latency at ``used`` (None when the curve has no latencies at this batch size)."""
    curve = [(t, v.ctx.latencies.get((entry.name, v.bs, t, v.sample_key))) for t in SWEEP]
    if all(ms is not None for _, ms in curve):
        for t, ms in curve:
            if v.ev is not None:
                rt = rescore(v.ev, entry.name, t)
                v.sweep.append({"threshold": t, "f1": rt["f1"], "latency_ms": ms, "kept_fraction": rt["kept_fraction"]})
            else:
                v.sweep.append({"threshold": t, "f1": v.stored.sweep_f1(t), "latency_ms": ms,
                                "kept_fraction": _interp(v.stored.sweep, t, "kept_fraction")})
        return _interp(v.sweep, used, "latency_ms")
    if v.stored is not None and v.stored.sweep and entry.precision in ("fp32", "-") and v.bs == v.stored.sweep_batch:
        v.sweep = _anchored(v.stored, entry, v.bs)
        return None
    if v.stored is not None and v.stored.sweep:
        v.notes.append(f"SF-SpanDec's threshold curve is stored for fp32 at batch size {v.stored.sweep_batch} only; "
                       f"press “Measure latency” to draw it for {entry.label} at batch size {v.bs}")
    return None


def _anchored(stored: StoredResults, entry, bs: int) -> list[dict]:
    """The stored threshold curve, its latencies scaled so that it passes through the serving benchmark's own figure
    for this form at its default threshold where there is one: the curve gives the shape, the served point the scale
    every other model's point is on (the two runs time alike, but on different sentences and sessions)."""
    sweep = [dict(x) for x in stored.sweep]
    served = stored.latency_ms(entry.strategy, bs, entry.precision) if (entry.strategy, entry.precision) in stored.forms \
        else None
    at = _interp(sweep, entry.config.threshold, "latency_ms")
    if served and at:
        for row in sweep:
            row["latency_ms"] = row["latency_ms"] * served / at if row["latency_ms"] is not None else None
    return sweep


def _entry(v: _View, entry, sf_curve: bool) -> None:
    """Add the row, the point (or the star) of one served model."""
    used = entry.threshold(v.thr)
    f1, p, r, kept, form = _scores(v, entry, used, sf_curve)
    live = v.ctx.latencies.get((entry.name, v.bs, None, v.sample_key))
    if sf_curve:
        live = _sf_curve(v, entry, used)
    stored_ms = None
    if live is None and v.stored is not None:
        on_curve = _interp(v.sweep, used, "latency_ms") if sf_curve and v.sweep else None
        at_default = not entry.has_filter or abs(used - entry.config.threshold) < 1e-9
        stored_ms = on_curve if on_curve is not None else (
            v.stored.latency_ms(entry.strategy, v.bs, entry.precision) if at_default else None)
    ms = live if live is not None else stored_ms
    timing = "live" if live is not None else ("stored" if ms is not None else "press “Measure latency”")
    gflops = model_gflops(entry.model, v.texts, kept if kept is not None else 1.0)
    if gflops is None and v.stored is not None:
        gflops = v.stored.gflops(entry.strategy)
    v.rows.append([entry.label, entry.strategy, _round(f1), _round(p), _round(r), _round(ms), timing, _sig(gflops),
                   _round(kept, 1, 100), form])
    if sf_curve and v.sweep:
        v.current = {"threshold": used, "f1": f1, "latency_ms": ms}
    else:
        v.points.append({"name": entry.label + (f" (threshold {used:.2f})" if sf_curve else ""), "f1": f1,
                         "latency_ms": ms, "gflops": gflops, "note": f"{entry.strategy}, {timing} timing; scores of {form}"})


def _stored_only(v: _View, covered: set[str]) -> None:
    """Points of strategies in the stored results that no served model covers (fp32, as stored)."""
    for strategy in v.stored.strategies:
        if strategy in covered:
            continue
        f1, p, r, _ = v.stored.scores(strategy, "fp32")
        ms, gflops = v.stored.latency_ms(strategy, v.bs), v.stored.gflops(strategy)
        v.points.append({"name": f"{strategy} (stored)", "f1": f1, "latency_ms": ms, "gflops": gflops,
                         "note": "stored result; model not loaded"})
        v.rows.append([f"{strategy} (stored)", strategy, _round(f1), _round(p), _round(r), _round(ms), "stored",
                       _sig(gflops), None, "fp32"])


def tradeoff(ctx: AppContext, threshold: float, batch_size: int, eval_key: str | None = None) -> tuple[Any, list[list], str]:
    """Latency-vs-F1 figure, table rows and a caption for the current threshold and batch size: every latency
    measured here or stored at that batch size for the form served, the F1 of that form (column "scores of")."""
    thr = check_threshold(threshold)
    bs = int(batch_size) if batch_size else 8
    ev: EvalSet | None = ctx.evaluations.get(eval_key or "")
    stored = None if ev else load_stored_results(ctx.results_path)
    if ev is None and stored is None:
        msg = "No stored results; upload a CoNLL file to evaluate the models here."
        return empty_figure(msg, height=420), [], msg
    sample_key, texts = _sample(ctx, eval_key, max(32, bs))
    v = _View(ctx, thr, bs, ev, stored, sample_key, texts)
    covered, sf_curve = set(), None
    for entry in ready_entries(ctx):
        covered.add(entry.strategy)
        is_sf = entry.has_filter and entry.spec.threshold is None and sf_curve in (None, entry.name)
        sf_curve = entry.name if is_sf else sf_curve  # one threshold curve; other SF entries (precisions) are points
        _entry(v, entry, is_sf)
    if stored is not None:
        _stored_only(v, covered)
    source = f"{ev.name} ({len(ev.sentences)} sentences, evaluated here)" if ev else \
        f"stored results for {stored.dataset} {stored.split}"
    caption = f"F1 from {source}; latency at batch size {bs}" + (
        "." if any(r[6] == "live" for r in v.rows) else "; press “Measure latency” to time the models on this machine.")
    caption += "".join(f"  \n{n}." for n in dict.fromkeys(v.notes))
    fig = tradeoff_plot(v.points, v.sweep, v.current, x_title=f"ms per sentence at batch size {bs}",
                        title=f"Latency vs F1 ({source})")
    return fig, v.rows, caption
