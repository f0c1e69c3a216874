"""Viewer maths for SpanDec / SF-SpanDec: every candidate span scored once, re-thresholded without the model,
and the decoder's cross-attention of one span.

:func:`score_spans` runs the model's own scoring (:meth:`SpanDecModel.score_batch`, window by
window exactly as ``predict`` does) with every candidate decoded, and keeps per span its label
probabilities and the lowest entity probability of its words. :meth:`SpanScores.entities` then
reproduces ``model.predict(text, threshold=t)`` for any ``t`` with no further model call; the
filter rule is :func:`spandec.spans.keep`, the one the model applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..spans import Candidate, Document, decode, entity_dicts, keep, span_min
from .outputs import PredictStats
from .spandec import SpanDecModel

__all__ = ["SpanScores", "SpanAnalysis", "score_spans", "span_min", "kept_summary", "analyze", "cross_attention",
           "check_span_model"]


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
        return keep(self.min_prob, threshold if self.has_filter else 0.0)

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


def check_span_model(model) -> SpanDecModel:
    """``model`` if it is a SpanDec / SF-SpanDec model, else ``ValueError`` naming what it is."""
    if not getattr(model, "has_span_decoder", False):
        raise ValueError(f"needs a SpanDec or SF-SpanDec model, not {getattr(model, 'strategy', type(model).__name__)}")
    return model


@torch.no_grad()
def score_spans(model: SpanDecModel, items: Sequence[str | Sequence[str]], batch_size: int = 16,
                progress: Callable[[float, str], None] | None = None,
                pause: Callable[[], None] | None = None) -> list[SpanScores]:
    """Encode each item once and score all of its candidate spans (see the module docstring);
    ``pause`` is called between forward passes (:meth:`NERModel.run_windows`)."""
    check_span_model(model)
    docs = [Document.from_input(x) for x in items]
    total = sum(len(model.windows(d.words)) for d in docs) if progress is not None else 0
    done = [0]

    def score_all(feats):
        out = model.score_batch(feats, threshold=0.0, decode_all=True, pause=pause)
        if progress is not None:
            done[0] += len(feats)
            progress(min(1.0, done[0] / max(1, total)), "scoring candidate spans")
        return out, PredictStats()

    per_doc, _ = model.run_windows(docs, batch_size, score=score_all, pause=pause)
    n_labels = len(model.id2label)
    out = []
    for doc, pairs in zip(docs, per_doc):
        spans, mins, probs, tokens = [], [], [], []
        for win, ws in pairs:
            spans.append(np.asarray(ws.spans, dtype=np.int64).reshape(-1, 2) + win.offset)
            mins.append(ws.min_prob)
            probs.append(ws.probs.numpy())
            if ws.word_probs is not None:
                cs, ce = win.core
                tokens.append(ws.word_probs[cs:ce])
        has_filter = model.has_span_filter
        out.append(SpanScores(
            doc=doc,
            labels=list(model.id2label),
            token_probs=(np.concatenate(tokens).astype(np.float32) if tokens else np.zeros(0, np.float32))
            if has_filter else None,
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


@dataclass
class SpanAnalysis:
    """What a viewer needs about one text: token probabilities, candidates kept/pruned, their scores."""

    words: list[str]
    offsets: list[tuple[int, int]]
    text: str
    token_probs: list[float] | None  # entity probability per word (SF-SpanDec), else None
    spans: list[tuple[int, int]]  # every candidate span (document word indices, end exclusive)
    kept: list[bool]  # candidate survives the span filter at ``threshold``
    scores: list[dict[str, float]]  # per candidate: probability of each label (O included)
    threshold: float
    entities: list[dict]  # flat prediction from the kept candidates


def analyze(model: SpanDecModel, text: str | Sequence[str], threshold: float | None = None) -> SpanAnalysis:
    """Score every candidate span of one text (pruned ones too) and report what the filter keeps."""
    check_span_model(model)
    threshold = model.resolve_threshold(threshold)
    s = score_spans(model, [text])[0]
    return SpanAnalysis(
        s.words, s.doc.offsets, s.doc.text, None if s.token_probs is None else s.token_probs.tolist(),
        [(int(a), int(b)) for a, b in s.spans], s.kept(threshold).tolist(),
        [{label: float(v) for label, v in zip(s.labels, row)} for row in s.probs.tolist()], threshold, s.entities(threshold))


def cross_attention(model: SpanDecModel, text: str | Sequence[str], span: tuple[int, int]) -> dict:
    """Decoder cross-attention of one span's start and end queries, per layer and head.

    Returns ``{"keys": ["[start]", "[end]", subword tokens...], "weights": array (layers, 2, heads, 2 + L),
    "span_tokens": (first, last) token index of the span in its encoder window, ...}``.
    """
    check_span_model(model)
    model.eval()
    doc = Document.from_input(text)
    s, e = span
    if not (0 <= s < e <= len(doc.words)) or e - s > model.config.max_span_words:
        raise ValueError(f"span {span} is not a candidate of this {len(doc.words)}-word text")
    win = next(w for w in model.windows(doc.words) if w.offset + w.core[0] <= s < w.offset + w.core[1])
    ls, le = s - win.offset, e - win.offset
    ids = torch.tensor([win.input_ids], device=model.device)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        z = model.encode(ids, mask)
        bias = torch.zeros(1, ids.shape[1], device=model.device, dtype=z.dtype)
        qpos = model.position_queries(ids.shape[1]).to(z.dtype)
        q = torch.stack([qpos[win.word_first[ls], 0], qpos[win.word_last[le - 1], 1]], dim=0)[None, None]
        weights = []
        for layer in model.decoder:
            mem_k, mem_v = layer.memory(z)
            q, w = layer(q, mem_k, mem_v, bias, return_weights=True)
            weights.append(w[0, 0].float().cpu())  # (2, heads, 2 + L)
    keys = ["[start]", "[end]"] + model.tokenizer.convert_ids_to_tokens(win.input_ids)
    return {"keys": keys, "weights": torch.stack(weights).numpy(), "span": (s, e), "words": doc.words[s:e],
            "span_tokens": (int(win.word_first[ls]), int(win.word_last[le - 1]))}

