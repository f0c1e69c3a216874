"""SF-SpanDec's inference path after the encoder: the span filter over a batch's spans as one flat list, the decoder
on the kept spans, and one filter-and-decoder call shared by consecutive encoder batches (their states padded, the
padding masked). Used by :class:`spandec.models.spandec.SpanDecModel`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..spans import Candidate, keep, span_min
from .base import each_batch
from .outputs import PredictStats

__all__ = ["BatchScores", "WindowScores", "filter_decode", "score_group"]


@dataclass
class BatchScores:
    """A batch's span scores as one flat list of its windows' spans (window-major, window-local word indices)."""

    spans: np.ndarray  # (N, 2) every candidate span
    window: np.ndarray  # (N,) the window (batch row) of each
    min_prob: np.ndarray  # (N,) lowest word entity probability inside each span (1 without a filter)
    kept: np.ndarray  # (N,) the span filter keeps it
    decoded: np.ndarray  # (D,) indices of the spans the decoder ran on, ascending
    probs: torch.Tensor  # (D, labels) label probabilities of the decoded spans, "O" first
    word_probs: np.ndarray | None  # (words of every window,) entity probability of each word, when computed


@dataclass
class WindowScores:
    """One window's span scores (window-local word indices)."""

    spans: np.ndarray  # (N, 2) every candidate span
    min_prob: np.ndarray  # (N,) lowest word entity probability inside each span (1 without a filter)
    kept: np.ndarray  # (N,) the span filter keeps it
    decoded: np.ndarray  # (D,) indices of the spans the decoder ran on
    probs: torch.Tensor  # (D, labels) label probabilities of the decoded spans, "O" first
    word_probs: np.ndarray | None  # (W,) entity probability of each word, when computed


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    """Float32 class probabilities on the CPU (numpy there: fewer small torch calls per batch)."""
    if logits.device.type != "cpu":
        return logits.float().softmax(-1).cpu()
    x = logits.detach().float().numpy()
    e = np.exp(x - x.max(-1, keepdims=True))
    return torch.from_numpy(e / e.sum(-1, keepdims=True))


def filter_decode(model, features: Sequence[dict], z: torch.Tensor, mask: torch.Tensor, threshold: float,
                  decode_all: bool = False, pause=None) -> BatchScores:
    """``model``'s span filter and decoder on windows ``features`` with encoder states ``z`` (padded rows masked)."""
    dev = z.device
    counts = [len(f["spans"]) for f in features]
    spans = np.concatenate([f["spans"] for f in features]).reshape(-1, 2)
    window = np.repeat(np.arange(len(features)), counts)
    word_probs = None
    if model.token_head is not None and (threshold > 0 or decode_all):
        n_words = [len(f["word_first"]) for f in features]
        rows = np.repeat(np.arange(len(features)) * z.shape[1], n_words) + np.concatenate([f["word_first"] for f in features])
        word_probs = model.word_probs(z, torch.from_numpy(rows).to(dev))
        offsets = np.repeat(np.cumsum([0] + n_words[:-1]), counts)  # each span's window's first word in word_probs
        mins = span_min(word_probs, spans + offsets[:, None])
    else:
        mins = np.ones(len(spans), dtype=np.float32)
    kept = keep(mins, threshold)
    decoded = np.arange(len(spans)) if decode_all else np.nonzero(kept)[0]
    probs = torch.zeros(0, len(model.id2label))
    if len(decoded):
        starts = torch.from_numpy(np.concatenate([f["span_start"] for f in features])[decoded]).to(dev)
        ends = torch.from_numpy(np.concatenate([f["span_end"] for f in features])[decoded]).to(dev)
        texts = np.unique(window[decoded])  # windows with spans to decode: the others' keys are never needed
        if len(texts) < len(features):
            pick = torch.from_numpy(texts).to(dev)
            z, mask = z.index_select(0, pick), mask.index_select(0, pick)
        rows = torch.from_numpy(np.searchsorted(texts, window[decoded])).to(dev)
        step = model.max_spans_per_forward * len(texts)
        parts = each_batch(range(0, len(decoded), step), lambda c: _softmax(model.decode_flat(
            z, mask, rows[c : c + step], starts[c : c + step], ends[c : c + step],
            filtered=not decode_all and threshold > 0)), pause)
        probs = parts[0] if len(parts) == 1 else torch.cat(parts)
    return BatchScores(spans, window, mins, kept, decoded, probs, word_probs)


def score_group(model, parts, states, threshold: float, pause) -> list[tuple[list[list[Candidate]], PredictStats]]:
    """Candidates and stats of each batch of ``parts`` (its states in ``states``) from one call of ``model``'s filter
    and decoder: the states padded to the longest, the padding masked."""
    if not parts:
        return []
    features = [f for feats in parts for f in feats]
    if len(states) == 1:
        z, mask = states[0]
    else:
        length = max(z.shape[1] for z, _ in states)
        z = torch.cat([nn.functional.pad(s, (0, 0, 0, length - s.shape[1])) for s, _ in states])
        mask = torch.cat([nn.functional.pad(m, (0, length - m.shape[1])) for _, m in states])
    flat = filter_decode(model, features, z, mask, threshold, pause=pause)
    cands = model.flat_candidates(len(features), flat.window[flat.decoded], flat.spans[flat.decoded], flat.probs)
    out, lo, span_lo = [], 0, 0
    for feats in parts:
        hi = lo + len(feats)
        span_hi = span_lo + sum(len(f["spans"]) for f in feats)
        decoded = int(np.searchsorted(flat.decoded, span_hi) - np.searchsorted(flat.decoded, span_lo))
        out.append((cands[lo:hi], PredictStats(span_hi - span_lo, decoded)))
        lo, span_lo = hi, span_hi
    return out
