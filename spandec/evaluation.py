"""Evaluation: seqeval (IOB2, strict) micro and per-type scores, and CoNLL prediction files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from .data import Sentence, spans_to_tags
from .formats import write_conll
from .spans import Document, decode, unreachable

if TYPE_CHECKING:
    from .models import PredictStats


def predict_tags(model, sentences: Sequence[Sentence], batch_size: int = 32, **options) -> list[list[str]]:
    """Flat predictions of ``model`` for each sentence, as IOB2 tags."""
    return predict_tags_with_stats(model, sentences, batch_size, **options)[0]


def predict_tags_with_stats(model, sentences: Sequence[Sentence], batch_size: int = 32,
                            **options) -> tuple[list[list[str]], "PredictStats"]:
    """:func:`predict_tags` and the prediction's :class:`~spandec.models.PredictStats` (spans decoded)."""
    docs = [Document.from_input(s.words) for s in sentences]
    cands, stats = model.predict_candidates(docs, batch_size=batch_size, **options)
    tags = [spans_to_tags(len(s.words), [(c.start, c.end, c.label) for c in decode(c)]) for s, c in zip(sentences, cands)]
    return tags, stats


def score(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """seqeval strict IOB2 micro precision/recall/F1 (in %) and per-type scores."""
    report = classification_report(
        [list(g) for g in gold], [list(p) for p in pred], mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    micro = report.pop("micro avg")
    for key in ("macro avg", "weighted avg"):
        report.pop(key, None)
    pct = lambda d: {k: round(100 * float(d[k]), 2) for k in ("precision", "recall", "f1-score")} | {"support": int(d["support"])}
    return {
        "precision": round(100 * float(micro["precision"]), 2),
        "recall": round(100 * float(micro["recall"]), 2),
        "f1": round(100 * float(micro["f1-score"]), 2),
        "per_type": {t: pct(v) for t, v in sorted(report.items())},
    }


def rescore(gold: Sequence[Sequence[str]], scores: Sequence, threshold: float) -> dict:
    """:func:`score` of span scores (``spandec.models.explain.SpanScores``, one per gold input) re-thresholded at
    ``threshold`` without the model, with ``kept_fraction``: the share of candidate spans the filter keeps."""
    pred = [spans_to_tags(len(s.words), [(c.start, c.end, c.label) for c in s.decoded(threshold)]) for s in scores]
    result = score(gold, pred)
    total = sum(len(s.spans) for s in scores)
    result["kept_fraction"] = sum(int(s.kept(threshold).sum()) for s in scores) / total if total else 1.0
    return result


def evaluate(model, sentences: Sequence[Sentence], batch_size: int = 32, output_conll: str | Path | None = None,
             **options) -> dict:
    """Score ``model`` on gold ``sentences``; optionally write ``word gold pred`` lines to ``output_conll``."""
    start = time.perf_counter()
    pred, stats = predict_tags_with_stats(model, sentences, batch_size=batch_size, **options)
    seconds = time.perf_counter() - start
    result = score([s.tags for s in sentences], pred)
    gold = [e for s in sentences for e in s.entities]
    result.update(
        sentences=len(sentences),
        gold_mentions=len(gold),
        seconds=round(seconds, 2),
        samples_per_second=round(len(sentences) / max(seconds, 1e-9), 1),
        candidates=stats.candidates,
        decoded=stats.decoded,
    )
    if model.enumerates_spans:
        result["unreachable_gold"] = len(unreachable(gold, model.config.max_span_words))
    if output_conll:
        write_conll(output_conll, [(x.words, x.tags, p) for x, p in zip(sentences, pred)],
                    [x.source or f"sentence {i + 1}" for i, x in enumerate(sentences)])
    return result
