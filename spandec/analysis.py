"""Why models differ on gold data: error buckets, error kinds, disagreements, the span filter's recall curve.

:func:`run_models` runs each model once over the gold sentences (SpanDec / SF-SpanDec score every
candidate span once with :func:`~spandec.models.explain.score_spans`, so any threshold is re-scored
without the model); :func:`analyse` turns the outputs into a JSON-able report. Entities are word
spans ``(start, end, label)``, end exclusive. Every bucket counts each gold and each predicted entity
exactly once, so a dimension's buckets add up to the totals.
"""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Sequence

import numpy as np

from .data import DataError, Sentence, data_dir, read_conll, spans_to_tags, tags_to_spans
from .evaluation import predict_tags, score
from .models.explain import SpanScores, score_spans

__all__ = ["THRESHOLDS", "KINDS", "DIMENSIONS", "ModelOutput", "run_models", "analyse",
           "caps_pattern", "error_kinds", "bucket_scores", "filter_curve", "training_forms", "committee_disagreement",
           "measure_ms"]

Span = tuple[int, int, str]
Progress = Callable[[float, str], None]
THRESHOLDS = tuple(round(0.1 * k, 1) for k in range(11))  # the filter curve: 0, 0.1, ..., 1
KINDS = ("missed", "spurious", "wrong label", "wrong boundary")
DIMENSIONS = ("label", "entity length", "capitalisation", "seen in training", "input length")
UNKNOWN = "unknown"


@dataclass
class ModelOutput:
    """One model's outputs on the gold sentences: every span scored (span decoders) or its flat entities."""

    name: str
    strategy: str
    threshold: float  # the threshold its entities are taken at (0 without a span filter)
    has_filter: bool
    scores: list[SpanScores] | None = None
    flat: list[list[Span]] | None = None
    seconds: float = 0.0
    max_span_words: int | None = None
    source: str | None = None  # the model's folder, where its training data is looked up

    def entities(self, threshold: float | None = None) -> list[list[Span]]:
        """Entities per sentence at ``threshold`` (default: the model's)."""
        if self.scores is None:
            return self.flat or []
        t = self.threshold if threshold is None else threshold
        return [sorted((c.start, c.end, c.label) for c in s.decoded(t)) for s in self.scores]


def run_models(models: Sequence[tuple[str, Any, str | None]], sentences: Sequence[Sentence],
               threshold: float | None = None, batch_size: int = 32, chunk: int = 64,
               progress: Progress | None = None, pause: Callable[[], None] | None = None,
               hold: Callable[[Any], ContextManager] | None = None) -> list[ModelOutput]:
    """Run each ``(name, model, folder)`` once over ``sentences``, ``chunk`` at a time; ``hold(model)`` wraps each
    chunk (the app's model lock), ``pause`` is called between forward passes (cancellation)."""
    hold = hold or (lambda _m: nullcontext())
    words = [s.words for s in sentences]
    outs, n = [], max(1, len(models))
    for i, (name, model, source) in enumerate(models):
        span, filt = model.has_span_decoder, model.has_span_filter
        thr = (model.resolve_threshold(threshold) if filt else 0.0)
        start, got = time.perf_counter(), []
        for c in range(0, len(words), chunk):
            if progress:
                progress((i + c / max(1, len(words))) / n, f"{name}: sentences {c + 1}-{min(c + chunk, len(words))}")
            with hold(model):
                got += (score_spans(model, words[c:c + chunk], batch_size=batch_size, pause=pause) if span
                        else predict_tags(model, sentences[c:c + chunk], batch_size=batch_size, pause=pause))
        out = ModelOutput(name, model.strategy, thr, filt, max_span_words=getattr(model.config, "max_span_words", None),
                          source=source)
        if span:
            out.scores = got
        else:
            out.flat = [sorted(tags_to_spans(t)) for t in got]
        out.seconds = time.perf_counter() - start
        outs.append(out)
    if progress:
        progress(1.0, "scored")
    return outs


# ----- attributes of an entity -----------------------------------------------------------------
def caps_pattern(words: Sequence[str]) -> str:
    """Title, UPPER, lower, mixed, or "no letters" for an entity's words."""
    letters = "".join(c for w in words for c in w if c.isalpha())
    if not letters:
        return "no letters"
    if len(letters) > 1 and letters.isupper():
        return "UPPER"
    if letters.islower():
        return "lower"
    alpha = ["".join(c for c in w if c.isalpha()) for w in words]
    if all(a[0].isupper() and (len(a) == 1 or a[1:].islower()) for a in alpha if a):
        return "Title"
    return "mixed"


def _length_bucket(n: int) -> str:
    return str(n) if n < 4 else ("4-5" if n <= 5 else "6+")


def _input_bucket(n: int) -> str:
    for hi, name in ((10, "1-10 words"), (20, "11-20 words"), (40, "21-40 words")):
        if n <= hi:
            return name
    return "41+ words"


def _surface(words: Sequence[str], span: Span) -> str:
    return " ".join(words[span[0]:span[1]])


def _attributes(words: Sequence[str], span: Span, seen: set[str] | None) -> dict[str, str]:
    surface = _surface(words, span)
    return {"label": span[2], "entity length": _length_bucket(span[1] - span[0]),
            "capitalisation": caps_pattern(words[span[0]:span[1]]),
            "seen in training": UNKNOWN if seen is None else ("seen" if surface in seen else "unseen"),
            "input length": _input_bucket(len(words))}


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(100 * p, 2), "recall": round(100 * r, 2), "f1": round(100 * f, 2),
            "support": n_gold, "predicted": n_pred, "correct": tp}


def bucket_scores(sentences: Sequence[Sentence], predicted: Sequence[Sequence[Span]],
                  seen: set[str] | None = None) -> dict[str, dict[str, dict]]:
    """Per dimension and bucket: precision/recall/F1, support (gold), predicted and correct counts; plus "total".

    A gold entity is bucketed by its own attributes, a prediction by its own; an exact match shares them."""
    counts: dict[str, dict[str, list[int]]] = {d: {} for d in DIMENSIONS}  # [tp, pred, gold]
    tp_all = n_pred = n_gold = 0
    for sent, pred in zip(sentences, predicted):
        gold = set(sent.entities)
        for span in gold:
            for dim, b in _attributes(sent.words, span, seen).items():
                c = counts[dim].setdefault(b, [0, 0, 0])
                c[2] += 1
                c[0] += span in pred
        for span in set(pred):
            for dim, b in _attributes(sent.words, span, seen).items():
                counts[dim].setdefault(b, [0, 0, 0])[1] += 1
        tp_all += len(gold & set(pred))
        n_pred += len(set(pred))
        n_gold += len(gold)
    out = {dim: {b: _prf(*v) for b, v in sorted(buckets.items(), key=lambda kv: _order(dim, kv[0]))}
           for dim, buckets in counts.items()}
    out["total"] = {"all": _prf(tp_all, n_pred, n_gold)}
    return out


def _order(dim: str, bucket: str) -> tuple:
    if dim in ("entity length", "input length"):
        return (int(re.match(r"\d+", bucket).group()), bucket)
    return (0, bucket)


# ----- error kinds -----------------------------------------------------------------------------
def error_kinds(gold: Iterable[Span], pred: Iterable[Span]) -> list[dict]:
    """The errors of one sentence: each prediction that is not exact is a wrong label (same span), a wrong boundary
    (overlaps a gold entity) or spurious; each gold entity no prediction touches is missed."""
    gold, pred = sorted(set(gold)), sorted(set(pred))
    errors = []
    for p in pred:
        if p in gold:
            continue
        same = [g for g in gold if g[:2] == p[:2]]
        over = [g for g in gold if g[0] < p[1] and p[0] < g[1]]
        kind = "wrong label" if same else ("wrong boundary" if over else "spurious")
        errors.append({"kind": kind, "gold": list((same or over)[0]) if (same or over) else None, "pred": list(p)})
    for g in gold:
        if not any(p[0] < g[1] and g[0] < p[1] for p in pred):
            errors.append({"kind": "missed", "gold": list(g), "pred": None})
    return errors


# ----- the span filter -------------------------------------------------------------------------
def measure_ms(model: Any, sample: Sequence[Sequence[str]], thresholds: Sequence[float] = THRESHOLDS,
               batch_size: int = 32, hold: Callable[[Any], ContextManager] | None = None) -> dict[float, float]:
    """Median ms per sentence of ``model.predict_batch`` on ``sample`` at each threshold (one warm-up, two timed
    runs each); ``hold(model)`` wraps each run (the app's model lock)."""
    hold = hold or (lambda _m: nullcontext())
    with hold(model):
        model.predict_batch(list(sample[:batch_size]), batch_size=batch_size)  # warm-up
    out = {}
    for t in thresholds:
        times = []
        for _ in range(2):
            with hold(model):
                start = time.perf_counter()
                model.predict_batch(list(sample), batch_size=batch_size, threshold=t)
                times.append(time.perf_counter() - start)
        out[t] = 1000.0 * float(np.median(times)) / max(1, len(sample))
    return out


def filter_curve(out: ModelOutput, sentences: Sequence[Sentence], thresholds: Sequence[float] = THRESHOLDS,
                 ms: dict[float, float] | None = None) -> dict:
    """Per threshold: share of gold entities whose span survives the filter, share of candidate spans decoded,
    F1 and (given ``ms``) measured ms per sentence; and the gold entities lost at the model's threshold."""
    gold_tags = [s.tags for s in sentences]
    n_gold = sum(len(s.entities) for s in sentences)
    points = []
    for t in thresholds:
        kept_gold = kept = total = 0
        for sent, sc in zip(sentences, out.scores):
            mask = sc.kept(t)
            total += len(mask)
            kept += int(mask.sum())
            alive = {(int(a), int(b)) for (a, b), k in zip(sc.spans, mask) if k}
            kept_gold += sum((s, e) in alive for s, e, _ in sent.entities)
        pred = [spans_to_tags(len(s.words), e) for s, e in zip(sentences, out.entities(t))]
        points.append({"threshold": t, "gold_kept": round(100 * kept_gold / max(1, n_gold), 2),
                       "decoded": round(100 * kept / max(1, total), 2), "f1": score(gold_tags, pred)["f1"],
                       "ms_per_sentence": None if not ms or t not in ms else round(ms[t], 3)})
    lost = []
    for i, (sent, sc) in enumerate(zip(sentences, out.scores)):
        mask, low = sc.kept(out.threshold), dict(((int(a), int(b)), float(m)) for (a, b), m in zip(sc.spans, sc.min_prob))
        alive = {(int(a), int(b)) for (a, b), k in zip(sc.spans, mask) if k}
        for s, e, label in sent.entities:
            if (s, e) not in alive:
                lost.append({"sentence": i, "text": _surface(sent.words, (s, e, label)), "label": label,
                             "span": [s, e], "min_word_probability": round(low[(s, e)], 4) if (s, e) in low else None,
                             "why": "filtered" if (s, e) in low else "longer than the model's longest span"})
    return {"model": out.name, "threshold": out.threshold, "points": points, "lost": lost, "gold": n_gold}


# ----- the model's training data ---------------------------------------------------------------
_TRAIN_ARG = re.compile(r"--train[ =](\S+)")
_FORMS: dict[str, set[str]] = {}


def _training_file(folder: Path) -> Path | None:
    """The training file the model's card (README ``--train``) names, found as given or under the data folder."""
    card = folder / "README.md"
    if not card.is_file():
        return None
    for match in _TRAIN_ARG.finditer(card.read_text(encoding="utf-8")):
        raw = match.group(1).strip("`'\"")
        rel = raw.split("shared/data/", 1)[1] if "shared/data/" in raw else None
        above = [p / "shared" / "data" / rel for p in Path(folder).resolve().parents] if rel else []
        for cand in [Path(raw), folder / raw, *([data_dir() / rel] if rel else []), *above]:
            if cand.is_file():
                return cand
    return None


def training_forms(folder: str | Path | None) -> tuple[set[str] | None, str]:
    """Entity surface forms of the training set the model's card names, and a note saying where from (or why not)."""
    if folder is None or not Path(folder).is_dir():
        return None, "unknown: the model is not a local folder"
    path = _training_file(Path(folder))
    if path is None:
        return None, f"unknown: {Path(folder).name}'s card names no training file found here (set SPANDEC_DATA_DIR)"
    key = str(path.resolve())
    if key not in _FORMS:
        try:
            _FORMS[key] = {_surface(s.words, e) for s in read_conll(path) for e in s.entities}
        except (DataError, ValueError, OSError) as exc:
            return None, f"unknown: could not read {path}: {exc}"
    return _FORMS[key], f"{path} ({len(_FORMS[key])} entity surface forms)"


# ----- the whole analysis ----------------------------------------------------------------------
def _disagreements(sentences: Sequence[Sentence], preds: dict[str, list[list[Span]]],
                   kinds: dict[str, list[list[dict]]]) -> list[dict]:
    rows = []
    for i, sent in enumerate(sentences):
        gold = sorted(sent.entities)
        per = {m: sorted(set(p[i])) for m, p in preds.items()}
        wrong = [m for m, p in per.items() if p != gold]
        distinct = len({tuple(p) for p in per.values()})
        if not wrong and distinct <= 1:
            continue
        labels = sorted({e[2] for e in gold} | {e[2] for p in per.values() for e in p})
        rows.append({"sentence": i, "words": list(sent.words), "gold": [list(e) for e in gold],
                     "models": {m: [list(e) for e in p] for m, p in per.items()}, "wrong": len(wrong),
                     "distinct": distinct, "labels": labels,
                     "kinds": sorted({k["kind"] for m in per for k in kinds[m][i]}),
                     "errors": {m: kinds[m][i] for m in per}})
    rows.sort(key=lambda r: (-r["wrong"], -r["distinct"], r["sentence"]))
    return rows


def analyse(outputs: Sequence[ModelOutput], sentences: Sequence[Sentence], name: str = "gold",
            ms: dict[str, dict[float, float]] | None = None, thresholds: Sequence[float] = THRESHOLDS) -> dict:
    """The report: per model totals, buckets, error kinds; disagreements; filter curves (models with a filter)."""
    preds = {o.name: o.entities() for o in outputs}
    models, kinds, curves, seen_notes = {}, {}, [], {}
    for o in outputs:
        forms, note = training_forms(o.source)
        seen_notes[o.name] = note
        kinds[o.name] = [error_kinds(s.entities, p) for s, p in zip(sentences, preds[o.name])]
        flat = [e for errs in kinds[o.name] for e in errs]
        buckets = bucket_scores(sentences, preds[o.name], forms)
        models[o.name] = {"strategy": o.strategy, "threshold": o.threshold, "has_filter": o.has_filter,
                          "seconds": round(o.seconds, 2), "training_data": note, **buckets.pop("total")["all"],
                          "buckets": buckets,
                          "error_counts": {k: sum(e["kind"] == k for e in flat) for k in KINDS},
                          "errors": [{"sentence": i, **e} for i, errs in enumerate(kinds[o.name]) for e in errs]}
        if o.has_filter and o.scores is not None:
            curves.append(filter_curve(o, sentences, thresholds, (ms or {}).get(o.name)))
    return {"gold": name, "sentences": len(sentences), "gold_entities": sum(len(s.entities) for s in sentences),
            "thresholds": list(thresholds), "models": models, "filter": curves,
            "disagreements": _disagreements(sentences, preds, kinds)}


# ----- query by committee ----------------------------------------------------------------------
def committee_disagreement(predictions: Sequence[Iterable[tuple[int, int, str]]]) -> float:
    """How much a committee of models disagrees on one text: 1 - mean pairwise F1 of their entity sets (0: all agree;
    texts where no model finds anything score 0)."""
    sets = [set(map(tuple, p)) for p in predictions]
    pairs = [(a, b) for i, a in enumerate(sets) for b in sets[i + 1:]]
    if not pairs:
        return 0.0
    f1s = [1.0 if not a and not b else 2 * len(a & b) / (len(a) + len(b)) for a, b in pairs]
    return round(1.0 - float(np.mean(f1s)), 6)



# ----- gold data -------------------------------------------------------------------------------
def read_gold(path: str | Path) -> list[Sentence]:
    """Gold sentences from CoNLL, JSON lines with spans (ours, spandec predict, doccano) or a Label Studio export;
    ``DataError`` naming the file (and line) when it cannot be read or holds no entity at all."""
    from .store.formats import corpus_kind, doc_sentence, read_corpus

    p = Path(path)
    kind = corpus_kind(p) if p.exists() else "conll"
    if kind == "conll":
        sentences = read_conll(p)
    elif kind == "text":
        raise DataError(f"{p.name}: a plain text file has no gold entities; use CoNLL, JSON lines with entities, "
                        "a Label Studio or a doccano export")
    else:
        sentences = [doc_sentence(d.text, d.entities or [], d.source_id) for d in read_corpus(p, kind)]
    if not any(s.entities for s in sentences):
        raise DataError(f"{p.name}: no gold entities found in {len(sentences)} texts")
    return [s for s in sentences if s.words]
