"""What the span strategies (PL-Marker, SpanDec, SF-SpanDec) share: candidate spans per window core, their
labels from class probabilities, and merging windows by word offset."""

from __future__ import annotations

from typing import Sequence

import torch

from ..spans import Candidate, enumerate_spans
from .base import NERModel, WindowInput

__all__ = ["SpanModel"]


class SpanModel(NERModel):
    """Base of the span strategies: enumerate spans per window core, label them, merge by offset."""

    def window_features(self, window: WindowInput, spans=None) -> dict:
        cs, ce = window.core
        cands = enumerate_spans(len(window.word_first), self.config.max_span_words, range(cs, ce))
        feat = {
            "input_ids": window.input_ids,
            "span_start": [window.word_first[s] for s, _ in cands],
            "span_end": [window.word_last[e - 1] for _, e in cands],
            "spans": cands,
            "word_first": window.word_first,
        }
        if spans is not None:
            gold = {(s, e): self.label2id[t] for s, e, t in spans}
            feat["span_labels"] = [gold.get(c, 0) for c in cands]
        return feat

    def candidates_from_probs(self, spans: Sequence[tuple[int, int]], probs: torch.Tensor) -> list[Candidate]:
        """Non-O candidates (argmax label) of window-local ``spans`` with class probabilities ``probs``."""
        if len(spans) == 0:
            return []
        score, label = probs.max(-1)
        return [
            Candidate(s, e, self.id2label[l], sc)
            for (s, e), l, sc in zip(spans, label.tolist(), score.tolist())
            if l != 0
        ]

    def merge(self, windows: Sequence[WindowInput], results: Sequence[list[Candidate]]) -> list[Candidate]:
        return [c._replace(start=c.start + w.offset, end=c.end + w.offset) for w, res in zip(windows, results) for c in res]
