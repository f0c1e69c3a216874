"""Encoder windows: a text cut into overlapping windows that fit the encoder, each word's subword bounds.

:class:`Windowing` is the part of :class:`~spandec.models.base.NERModel` that makes them; it reads the model's
``tokenizer``, ``config`` (``max_span_words``, ``window_context_words``), ``window_subwords`` (the window's
subwords, the two special tokens included, as ``config.window_subwords``) and ``enumerates_spans``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..spans import Document, make_windows
from ..text import model_word

__all__ = ["WindowInput", "Windowing", "same_length_batches"]


@dataclass
class WindowInput:
    """One encoder window: subword ids plus each word's first and last subword index."""

    input_ids: list[int]
    word_first: list[int]
    word_last: list[int]
    core: tuple[int, int]  # window-local word indices this window owns
    offset: int  # document index of the window's first word
    doc: int = 0


class Windowing:
    """Cutting texts into encoder windows (a mixin of ``NERModel``)."""

    def encode_window(self, words: Sequence[str]) -> tuple[list[int], list[int], list[int]]:
        """Subword ids (with special tokens) of ``words`` and each word's first/last subword index."""
        tok = self.tokenizer
        words = tokenizer_words(words)
        enc = tok(words, is_split_into_words=True, add_special_tokens=True, truncation=False)
        ids = enc["input_ids"]
        first, last = _word_bounds(enc.word_ids(), len(words))
        if min(first, default=0) < 0:  # words the tokenizer drops (e.g. zero-width characters) become [UNK]
            fixed = [w if first[k] >= 0 else tok.unk_token for k, w in enumerate(words)]
            return self.encode_window(fixed)
        return ids, first, last

    def subword_counts(self, words: Sequence[str]) -> list[int]:
        """Number of subwords of each word (at least 1)."""
        if not words:
            return []
        enc = self.tokenizer(tokenizer_words(words), is_split_into_words=True, add_special_tokens=False)
        counts = [0] * len(words)
        for w in enc.word_ids():
            if w is not None:
                counts[w] += 1
        return [max(1, c) for c in counts]

    def windows(self, words: Sequence[str], doc: int = 0) -> list[WindowInput]:
        """Encode ``words`` as overlapping windows that fit the encoder (one window for short texts)."""
        context = max(self.config.window_context_words, self.config.max_span_words)
        out = []
        min_context = self.config.max_span_words - 1 if self.enumerates_spans else 0
        content = self.window_subwords - 2  # the special tokens take two
        for start, end, cs, ce in make_windows(self.subword_counts(words), content, context, min_context):
            ids, first, last = self.encode_window(words[start:end])
            if len(ids) > self.window_subwords:  # a single over-long word: keep its first subwords
                ids, first, last = _clip(ids, first, last, self.window_subwords)
            out.append(WindowInput(ids, first, last, (cs - start, ce - start), start, doc))
        return out

    def all_windows(self, docs: Sequence[Document]) -> list[WindowInput]:
        """The windows of every document, as :meth:`windows` gives them; documents that fit one window
        (most sentences) are tokenized together in one call."""
        todo = [d for d, doc in enumerate(docs) if doc.words]
        if not todo:
            return []
        enc = self.tokenizer([tokenizer_words(docs[d].words) for d in todo], is_split_into_words=True, add_special_tokens=True,
                             truncation=False)
        out = []
        for k, d in enumerate(todo):
            doc, ids = docs[d], enc["input_ids"][k]
            first, last = _word_bounds(enc.word_ids(k), len(doc.words))
            if len(ids) <= self.window_subwords and min(first) >= 0:
                out.append(WindowInput(ids, first, last, (0, len(doc.words)), 0, d))
            else:  # several windows, or words the tokenizer drops
                out.extend(self.windows(doc.words, d))
        return out


def same_length_batches(windows: Sequence[WindowInput], batch_size: int) -> list[list[int]]:
    """Indices of ``windows`` in batches of at most ``batch_size`` windows of one subword length, shortest first.

    No window is ever padded, so its numbers depend on the window alone: torch's attention (SDPA) and the bf16 and
    torchao int8 forms change a text's states when its padded length crosses a multiple of the CPU's vector width
    (16 floats here: up to 0.03 on the bf16 states, 0.3 on int8's, 3e-6 at fp32), while batch rows of one length do
    not change them (comparisons/results/batch-invariance.md)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    by_length: dict[int, list[int]] = {}
    for k, w in enumerate(windows):
        by_length.setdefault(len(w.input_ids), []).append(k)
    return [same[b : b + batch_size] for n in sorted(by_length) for same in [by_length[n]]
            for b in range(0, len(same), batch_size)]


def _word_bounds(word_ids: Sequence[int | None], n_words: int) -> tuple[list[int], list[int]]:
    """Each word's first and last subword index (-1 for words without subwords)."""
    first, last = [-1] * n_words, [-1] * n_words
    for pos, w in enumerate(word_ids):
        if w is None:
            continue
        if first[w] < 0:
            first[w] = pos
        last[w] = pos
    return first, last


def _clip(ids: list[int], first: list[int], last: list[int], limit: int):
    keep = ids[: limit - 1] + ids[-1:]
    return keep, [min(f, limit - 2) for f in first], [min(l, limit - 2) for l in last]


def tokenizer_words(words: Sequence[str]) -> list[str]:
    """The words as every strategy's tokenizer gets them (:func:`spandec.text.model_word`: NFKC); offsets stay the
    original words'."""
    return [model_word(w) for w in words]
