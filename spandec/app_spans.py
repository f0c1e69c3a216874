"""Score every candidate span once, then re-threshold without the model (span-filter view, trade-off cache).

:func:`score_spans` runs a SpanDec / SF-SpanDec model's encoder, token head and decoder
over *all* candidate spans of each input (in batches, window by window, exactly as
``predict`` does) and keeps, per span, its label probabilities and the lowest entity
probability of its words. :meth:`SpanScores.entities` then reproduces
``model.predict(text, threshold=t)`` for any ``t`` with no further model call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .spans import Candidate, Document, decode, entity_dicts

__all__ = ["SpanScores", "score_spans", "span_min", "kept_summary"]


@dataclass
class SpanScores:
    """All candidate spans of one document with their scores; pure data, re-thresholded for free."""

    doc: Document
    labels: list[str]  # id2label, "O" first
    token_probs: np.ndarray | None  # (W,) entity probability per word; None without a span filter
    spans: np.ndarray  # (N, 2) word start, end (exclusive)
    min_prob: np.ndarray  # (N,) lowest word entity probability inside the span (window-local, as predict sees it)
    probs: np.ndarray  # (N, labels) label probabilities of each span

    @property
    def words(self) -> list[str]:
        return self.doc.words

    @property
    def has_filter(self) -> bool:
        """Whether the model has a span filter (token head)."""
        return self.token_probs is not None

    def kept(self, threshold: float) -> np.ndarray:
        """Boolean mask of the spans the filter keeps at ``threshold`` (all when 0 or no filter)."""
        if not self.has_filter or threshold <= 0:
            return np.ones(len(self.spans), dtype=bool)
        return self.min_prob >= np.float32(threshold)

    def candidates(self, threshold: float) -> list[Candidate]:
        """Kept spans whose best label is an entity, as decoding candidates."""
        if len(self.spans) == 0:
            return []
        best = self.probs.argmax(-1)
        score = self.probs.max(-1)
        idx = np.nonzero(self.kept(threshold) & (best != 0))[0]
        return [Candidate(int(self.spans[k, 0]), int(self.spans[k, 1]), self.labels[best[k]], float(score[k]))
                for k in idx]

    def decoded(self, threshold: float) -> list[Candidate]:
        """Flat (greedy, non-overlapping) entities at ``threshold``."""
        return decode(self.candidates(threshold))

    def entities(self, threshold: float) -> list[dict]:
        """The output dicts ``model.predict`` gives at ``threshold``."""
        return entity_dicts(self.doc, self.decoded(threshold))


def span_min(values: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Minimum of ``values[s:e]`` for every ``(s, e)`` row of ``spans`` (vectorised over span lengths)."""
    if len(spans) == 0:
        return np.zeros(0, dtype=values.dtype)
    lengths = spans[:, 1] - spans[:, 0]
    out = np.empty(len(spans), dtype=values.dtype)
    running = values.copy()
    for length in range(1, int(lengths.max()) + 1):
        if length > 1:
            running = np.minimum(running[:-1], values[length - 1:])
        sel = lengths == length
        out[sel] = running[spans[sel, 0]]
    return out


def _check(model) -> None:
    if getattr(model, "strategy", None) not in ("spandec", "sf-spandec"):
        raise ValueError(f"needs a SpanDec or SF-SpanDec model, not {getattr(model, 'strategy', type(model).__name__)}")


@torch.no_grad()
def score_spans(model, items: Sequence[str | Sequence[str]], batch_size: int = 16,
                progress: Callable[[float, str], None] | None = None) -> list[SpanScores]:
    """Encode each item once and score all of its candidate spans (see the module docstring)."""
    _check(model)
    model.eval()
    docs = [Document.from_input(x) for x in items]
    windows = [w for d, doc in enumerate(docs) for w in model.windows(doc.words, d)]
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].input_ids))
    n_labels = len(model.id2label)
    results: list[tuple] = [None] * len(windows)  # type: ignore[list-item]
    with model.autocast():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            feats = [model.window_features(windows[k]) for k in idx]
            batch = {k: v.to(model.device) for k, v in model.collate(feats).items()}
            z = model.encode(batch["input_ids"], batch["attention_mask"])
            tp = None
            if model.token_head is not None:
                tp = model.token_logits(z, batch["word_first"]).float().sigmoid().cpu().numpy()
            probs = None
            if any(f["spans"] for f in feats):
                logits = model.decode_spans(z, batch["attention_mask"], batch["span_start"], batch["span_end"],
                                            batch["span_mask"])
                probs = logits.float().softmax(-1).cpu().numpy()
            for i, (k, f) in enumerate(zip(idx, feats)):
                spans = np.asarray(f["spans"], dtype=np.int64).reshape(-1, 2)
                p = probs[i, : len(spans)] if probs is not None else np.zeros((0, n_labels), np.float32)
                if tp is not None:
                    wp = tp[i, : len(f["word_first"])]
                    mins = span_min(wp, spans)
                else:
                    wp, mins = None, np.ones(len(spans), dtype=np.float32)
                results[k] = (spans, mins, p, wp)
            if progress is not None:
                progress(min(1.0, (b + len(idx)) / max(1, len(order))), "scoring candidate spans")
    per_doc: list[list[int]] = [[] for _ in docs]
    for k, w in enumerate(windows):
        per_doc[w.doc].append(k)
    out = []
    for doc, ks in zip(docs, per_doc):
        spans, mins, probs, tokens = [], [], [], []
        for k in ks:
            win = windows[k]
            s, m, p, wp = results[k]
            spans.append(s + win.offset)
            mins.append(m)
            probs.append(p)
            if wp is not None:
                cs, ce = win.core
                tokens.append(wp[cs:ce])
        out.append(SpanScores(
            doc=doc,
            labels=list(model.id2label),
            token_probs=np.concatenate(tokens).astype(np.float32) if model.token_head is not None and tokens
            else (np.zeros(0, np.float32) if model.token_head is not None else None),
            spans=np.concatenate(spans) if spans else np.zeros((0, 2), np.int64),
            min_prob=np.concatenate(mins).astype(np.float32) if mins else np.zeros(0, np.float32),
            probs=np.concatenate(probs).astype(np.float32) if probs else np.zeros((0, n_labels), np.float32),
        ))
    return out


def kept_summary(scores: SpanScores, threshold: float) -> str:
    """``kept k of n candidate spans (p %)`` at ``threshold``."""
    n = len(scores.spans)
    k = int(scores.kept(threshold).sum())
    pct = 100.0 * k / n if n else 0.0
    return f"kept {k} of {n} candidate spans ({pct:.1f} %)"
