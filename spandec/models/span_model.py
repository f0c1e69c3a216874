"""What the span strategies (PL-Marker, SpanDec, SF-SpanDec) share: candidate spans per window core, their
labels from class probabilities, and merging windows by word offset."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..spans import Candidate, span_grid
from .base import NERModel, WindowInput

__all__ = ["SpanModel"]


class SpanModel(NERModel):
    """Base of the span strategies: enumerate spans per window core, label them, merge by offset."""

    enumerates_spans = True

    def window_features(self, window: WindowInput, spans=None) -> dict:
        cs, ce = window.core
        cands = span_grid(len(window.word_first), self.config.max_span_words, cs, ce)  # (N, 2), cached
        feat = {
            "input_ids": window.input_ids,
            "span_start": np.asarray(window.word_first, dtype=np.int64)[cands[:, 0]],
            "span_end": np.asarray(window.word_last, dtype=np.int64)[cands[:, 1] - 1],
            "spans": cands,
            "word_first": window.word_first,
        }
        if spans is not None:
            gold = {(s, e): self.label2id[t] for s, e, t in spans}
            feat["span_labels"] = [gold.get(c, 0) for c in map(tuple, cands.tolist())]
        return feat

    def candidates_from_probs(self, spans: np.ndarray | Sequence[tuple[int, int]], probs: torch.Tensor) -> list[Candidate]:
        """Non-O candidates (argmax label) of window-local ``spans`` (N, 2) with class probabilities ``probs``."""
        return self.window_candidates([spans], probs)[0]

    def window_candidates(self, spans: Sequence[np.ndarray | Sequence[tuple[int, int]]],
                          probs: torch.Tensor) -> list[list[Candidate]]:
        """:meth:`candidates_from_probs` of several windows at once: ``spans[i]`` (N_i, 2) the i-th window's spans,
        ``probs`` (sum N_i, labels) theirs stacked in window order."""
        flat = np.concatenate([np.asarray(x, dtype=np.int64).reshape(-1, 2) for x in spans]) if spans else np.zeros((0, 2))
        return self.flat_candidates(len(spans), np.repeat(np.arange(len(spans)), [len(x) for x in spans]), flat, probs)

    def flat_candidates(self, windows: int, window: np.ndarray, spans: np.ndarray, probs: torch.Tensor) -> list[list[Candidate]]:
        """Non-O candidates (argmax label) of spans given flat: ``window`` (N,) the window of each, ``spans`` (N, 2)
        window-local, ``probs`` (N, labels); one list per window, in the spans' order."""
        out: list[list[Candidate]] = [[] for _ in range(windows)]
        if len(probs) == 0:
            return out
        p = probs.float().numpy()  # numpy: a few small reductions, no torch dispatch per call
        label = p.argmax(-1)
        hit = np.nonzero(label)[0]
        score = p[hit, label[hit]]
        for w, (s, e), l, sc in zip(window[hit].tolist(), spans[hit].tolist(), label[hit].tolist(), score.tolist()):
            out[w].append(Candidate(s, e, self.id2label[l], sc))
        return out

    def merge(self, windows: Sequence[WindowInput], results: Sequence[list[Candidate]]) -> list[Candidate]:
        return [c._replace(start=c.start + w.offset, end=c.end + w.offset) for w, res in zip(windows, results) for c in res]
