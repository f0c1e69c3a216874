"""Span logic shared by every strategy: documents, windows, candidates, the span-filter rule, decoding, output dicts.

Conventions: word spans are ``(start, end)`` with ``end`` exclusive, as in
:func:`spandec.data.tags_to_spans`; label id 0 is always ``"O"``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from .text import split_words


class Candidate(NamedTuple):
    """A scored span: words ``start:end`` labelled ``label`` with probability ``score``."""

    start: int
    end: int
    label: str
    score: float


@dataclass
class Document:
    """One input: its words and, where it came from raw text, their character offsets."""

    words: list[str]
    offsets: list[tuple[int, int]]
    text: str

    @classmethod
    def from_input(cls, item: str | Sequence[str]) -> "Document":
        """Build from raw text (split with :func:`spandec.text.split_words`) or a list of words."""
        if isinstance(item, str):
            triples = split_words(item)
            return cls([w for w, _, _ in triples], [(s, e) for _, s, e in triples], item)
        if not all(isinstance(w, str) for w in item):
            raise TypeError("a pre-split input must be a list of strings")
        words = list(item)
        offsets, pos = [], 0
        for w in words:
            offsets.append((pos, pos + len(w)))
            pos += len(w) + 1
        return cls(words, offsets, " ".join(words))


def make_windows(subword_counts: Sequence[int], budget: int, context: int,
                 min_context: int = 0) -> list[tuple[int, int, int, int]]:
    """Split words into overlapping windows of at most ``budget`` subwords.

    Returns ``(start, end, core_start, core_end)`` tuples; the cores partition the words
    and every window has at least ``context`` words of context around its core (less at
    the document edges), so a span of up to ``context`` words starting in a core lies
    wholly inside that window. A single word longer than ``budget`` counts as ``budget``.
    A budget too small for a word plus ``min_context`` words on each side is a ValueError
    (spans would go unscored); otherwise the context shrinks only for runs of very long words.
    """
    if budget < 2 * min_context + 1:
        raise ValueError(f"a window of {budget} subwords cannot hold a word plus {min_context} words of context "
                         "on each side; raise window_subwords or lower max_span_words")
    n = len(subword_counts)
    counts = [max(1, min(c, budget)) for c in subword_counts]
    windows: list[tuple[int, int, int, int]] = []
    core_start = 0
    while core_start < n:
        ctx = context
        while True:
            start = max(0, core_start - ctx)
            end, total = start, 0
            while end < n and total + counts[end] <= budget:
                total += counts[end]
                end += 1
            if end == n:
                windows.append((start, end, core_start, n))
                return windows
            core_end = end - ctx
            if core_end > core_start:
                break
            if ctx == 0:  # one word fills the window
                core_end = max(end, core_start + 1)
                break
            ctx = min_context if ctx > min_context > ctx // 2 else ctx // 2  # floor at min_context once
        windows.append((start, end, core_start, core_end))
        core_start = core_end
    return windows


@functools.lru_cache(maxsize=4096)
def span_grid(n_words: int, max_span_words: int, start: int = 0, end: int | None = None) -> np.ndarray:
    """All spans of 1..max_span_words words in ``n_words`` words starting in ``[start, end)``, ordered by
    start then end: a read-only (N, 2) int64 array of ``(start, end)`` (end exclusive), cached per shape."""
    first = np.arange(start, n_words if end is None else end, dtype=np.int64)[:, None]
    last = first + np.arange(1, max_span_words + 1, dtype=np.int64)[None, :]
    inside = last <= n_words
    grid = np.stack([np.broadcast_to(first, last.shape)[inside], last[inside]], axis=1)
    grid.flags.writeable = False
    return grid


def decode_flat(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Greedy flat decoding: highest score first, skipping spans that overlap a kept one; sorted by position."""
    taken: list[Candidate] = []
    used: set[int] = set()
    for cand in sorted(candidates, key=lambda c: (-c.score, c.start, c.end)):
        if any(k in used for k in range(cand.start, cand.end)):
            continue
        taken.append(cand)
        used.update(range(cand.start, cand.end))
    return sorted(taken, key=lambda c: (c.start, c.end))


def decode(candidates: Iterable[Candidate], flat: bool = True, min_score: float = 0.0) -> list[Candidate]:
    """Flat greedy decoding, or (``flat=False``) every span scoring at least ``min_score``."""
    kept = [c for c in candidates if c.score >= min_score]
    if flat:
        return decode_flat(kept)
    return sorted(kept, key=lambda c: (c.start, c.end, -c.score))


def bio_to_candidates(tags: Sequence[str], scores: Sequence[float]) -> list[Candidate]:
    """Turn per-word BIO tags (stray ``I-`` read as ``B-``) into candidates scored by their mean word score."""
    out: list[Candidate] = []
    start, label = None, None
    for k, tag in enumerate(list(tags) + ["O"]):
        prefix, _, typ = tag.partition("-")
        continues = prefix == "I" and label == typ
        if start is not None and not continues:
            out.append(Candidate(start, k, label, float(sum(scores[start:k]) / (k - start))))
            start, label = None, None
        if prefix in ("B", "I") and not continues:
            start, label = k, typ
    return out


def entity_dicts(doc: Document, spans: Iterable[Candidate]) -> list[dict]:
    """SpanMarker-style output dicts for decoded spans of ``doc``."""
    out = []
    for c in spans:
        cs, ce = doc.offsets[c.start][0], doc.offsets[c.end - 1][1]
        out.append(
            {
                "span": doc.text[cs:ce],
                "label": c.label,
                "score": round(float(c.score), 6),
                "char_start_index": cs,
                "char_end_index": ce,
                "word_start_index": c.start,
                "word_end_index": c.end,
            }
        )
    return out


def unreachable(gold: Iterable[tuple[int, int, str]], max_span_words: int) -> list[tuple[int, int, str]]:
    """Gold entities a span model cannot predict because they are longer than ``max_span_words``."""
    return [g for g in gold if g[1] - g[0] > max_span_words]


# ----- the span filter (SF-SpanDec): one rule for the model and every viewer ---------------------
def check_threshold(value: Any) -> float:
    """A span-filter threshold: a number between 0 and 1, else ``ValueError`` saying what was given."""
    try:
        thr = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number between 0 and 1, got {value!r}") from None
    if math.isnan(thr) or not 0.0 <= thr <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {value!r}")
    return thr


def span_min(values: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Minimum of ``values[s:e]`` for every ``(s, e)`` row of ``spans`` (vectorised over span lengths)."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if len(spans) == 0:
        return np.zeros(0, dtype=values.dtype)
    longest = int((spans[:, 1] - spans[:, 0]).max())
    if longest <= 16:  # every span's words gathered at once, its last word repeated past its end
        index = np.minimum(spans[:, :1] + np.arange(longest), spans[:, 1:] - 1)
        return values[index].min(axis=1)
    out = np.empty(len(spans), dtype=values.dtype)
    running = values.copy()
    lengths = spans[:, 1] - spans[:, 0]
    for length in range(1, longest + 1):
        if length > 1:
            running = np.minimum(running[:-1], values[length - 1:])
        sel = lengths == length
        out[sel] = running[spans[sel, 0]]
    return out


def keep(min_prob: np.ndarray, threshold: float) -> np.ndarray:
    """The span filter: a span is kept when none of its words has entity probability below ``threshold``.

    ``min_prob`` holds each span's lowest word probability; a threshold of 0 keeps every span.
    """
    if threshold <= 0:
        return np.ones(len(min_prob), dtype=bool)
    return np.asarray(min_prob) >= np.float32(threshold)
