"""Windows: make_windows properties, and windowed prediction equal to one-window prediction."""

from __future__ import annotations

import random

import pytest
import torch

from spandec.data import Sentence, spans_to_tags
from spandec.spans import make_windows, span_grid

from model_helpers import MODEL_KW, STRATEGIES, entity_set, make, no_dropout

pytestmark = pytest.mark.usefixtures("one_thread")


# =============================================================================================
# Windows
# =============================================================================================

def _check_windows(counts, budget, context, windows, full_context: bool) -> None:
    n = len(counts)
    assert windows, "no windows"
    assert windows[0][2] == 0 and windows[-1][3] == n
    for (s, e, cs, ce), nxt in zip(windows, windows[1:] + [None]):
        assert s <= cs < ce <= e <= n
        assert sum(min(c, budget) for c in counts[s:e]) <= budget or e - s == 1
        if nxt is not None:
            assert nxt[2] == ce  # cores are contiguous: they partition the words
        if full_context:
            assert cs - s >= min(context, cs)
            assert e - ce >= min(context, n - ce)
            # a span of up to `context` words starting in the core lies inside the window
            assert all(k + context <= e for k in range(cs, ce) if k + context <= n)


def test_make_windows_properties() -> None:
    rng = random.Random(0)
    assert make_windows([], 10, 2) == []
    assert make_windows([1, 2, 3], 10, 2) == [(0, 3, 0, 3)]
    for _ in range(300):
        n = rng.randint(1, 60)
        counts = [rng.choice([1, 1, 1, 2, 3]) for _ in range(n)]
        context = rng.randint(0, 5)
        budget = rng.randint((2 * context + 1) * 3, 40)  # room for context on both sides
        windows = make_windows(counts, budget, context)
        _check_windows(counts, budget, context, windows, full_context=True)
        if sum(counts) <= budget:
            assert windows == [(0, n, 0, n)]
        # tight budgets and over-long words still give a valid partition
        tight = rng.randint(1, 6)
        long_counts = [c * rng.choice([1, 1, 5]) for c in counts]
        _check_windows(long_counts, tight, context, make_windows(long_counts, tight, context), full_context=False)


def _long_text(data, model, max_subwords: int):
    """Fixture sentences (rotated, with a filler prefix) joined into one text of at most ``max_subwords``
    subwords whose windows cut through a mention and start or end another at a core edge."""
    for first in range(len(data)):
        for filler in range(4):
            words, entities = ["Yesterday"] * filler, []
            for s in data[first:] + data[:first]:
                if sum(model.subword_counts(words + s.words)) > max_subwords:
                    break
                entities += [(a + len(words), b + len(words), t) for a, b, t in s.entities]
                words = words + s.words
            edges = [w.offset + w.core[1] for w in model.windows(words)][:-1]
            cut = [e for e in entities if any(e[0] < b < e[1] for b in edges)]
            touching = [e for e in entities if e[0] in edges or e[1] in edges]
            if len(edges) >= 2 and cut and touching:
                return words, entities, edges, cut
    raise AssertionError("no arrangement puts a mention across a window edge")


def test_windows_cover_every_span_once(tiny_encoder, overfit_data) -> None:
    for strategy in ("token", "spandec"):
        model = make(strategy, tiny_encoder, **MODEL_KW)
        words, _, _, _ = _long_text(overfit_data, model, 120)
        windows = model.windows(words)
        assert len(windows) >= 5
        assert all(len(w.input_ids) <= 24 for w in windows)
        assert sum(w.core[1] - w.core[0] for w in windows) == len(words)
        for w in windows:
            ids, _, _ = model.encode_window(words[w.offset : w.offset + len(w.word_first)])
            assert w.input_ids == ids
        if strategy == "spandec":
            spans = [(w.offset + s, w.offset + e) for w in windows for s, e in model.window_features(w)["spans"]]
            assert sorted(spans) == sorted(set(spans)) == [tuple(r) for r in span_grid(len(words), 4).tolist()]


def _memorize_long_text(model, sentences, steps: int) -> None:
    """Full-batch Adam on ``sentences`` (each one window of at most 126 subwords)."""
    saved, model.window_subwords = model.window_subwords, 128
    try:
        batch = model.collate([f for s in sentences for f in model.training_features(s.words, s.entities)])
    finally:
        model.window_subwords = saved
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_windows_give_the_same_entities(tiny_encoder, overfit_data, strategy) -> None:
    """Windowed prediction (24-subword windows, 22 of text) of a long text equals one-window prediction.

    A model overfitted on 20 short sentences does not carry over to other contexts, so the
    model here memorizes the long text itself and each of its windows as a sentence: the
    windowed and the whole prediction then see memorized inputs, and any difference comes
    from cutting the text into windows and merging their results.
    """
    model = no_dropout(make(strategy, tiny_encoder, **MODEL_KW))
    assert model.window_subwords == 24  # as the config's: special tokens included
    words, gold, edges, cut = _long_text(overfit_data, model, 60)
    sentences = [Sentence(words, spans_to_tags(len(words), gold))]
    for w in model.windows(words):
        a, b = w.offset, w.offset + len(w.word_first)
        inside = [(s - a, e - a, t) for s, e, t in gold if a <= s and e <= b]  # mentions cut off by the window: O
        sentences.append(Sentence(words[a:b], spans_to_tags(b - a, inside)))
    _memorize_long_text(model, sentences, steps=150)

    assert len(model.windows(words)) == len(edges) + 1 >= 3
    windowed = entity_set(model.predict(words))
    windowed_all = entity_set(model.predict(words, flat=False, min_score=0.5))
    model.window_subwords = 128
    assert len(model.windows(words)) == 1
    whole = entity_set(model.predict(words))
    whole_all = entity_set(model.predict(words, flat=False, min_score=0.5))
    assert windowed == whole == gold  # no mention lost or doubled at the edges
    assert set(cut) <= set(windowed)
    if strategy != "token":
        assert len(windowed_all) == len(set(windowed_all))  # no span scored twice
    assert sorted(windowed_all) == sorted(whole_all)
