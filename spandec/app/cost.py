"""What one request costs, estimated before any model runs, and the budget that bounds it.

The work of a request is counted from the texts alone: words, encoder windows, candidate spans and, per
window, the model's Appendix D GFLOPs (``model.gflops``: the encoder over the window,
SpanDec's decoder over every candidate span, PL-Marker's text re-encoded once per marker group). The model class's
speed (``cpu_gflops_per_second``, measured on a 2-core CPU; ``--cpu-speed`` scales it) turns that into seconds.
A request over its budget is refused before it runs, with a message saying how much fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..spans import Document
from .errors import InputError

__all__ = ["Cost", "estimate", "check_budget", "words_that_fit"]


@dataclass(frozen=True)
class Cost:
    """The estimated work of running one model on some texts."""

    model: str
    strategy: str
    texts: int
    words: int
    windows: int
    spans: int  # candidate spans (0 for token classification)
    gflops: float
    seconds: float  # gflops at the model's speed on the reference machine (``cpu_gflops_per_second``)


def estimate(name: str, model: Any, items: Sequence[str | Sequence[str]], speed: float = 1.0) -> Cost:
    """The work of ``model`` (served as ``name``) on ``items``: windows, spans, GFLOPs and seconds."""
    words = windows = spans = 0
    gflops = 0.0
    span_model = model.enumerates_spans
    max_span = model.config.max_span_words
    for item in items:
        doc_words = Document.from_input(item).words
        words += len(doc_words)
        if not doc_words:
            continue
        for win in model.windows(doc_words):
            n = len(win.word_first)
            core = sum(min(max_span, n - i) for i in range(*win.core)) if span_model else 0
            windows += 1
            spans += core
            gflops += model.gflops(len(win.input_ids), 2 * core)
    rate = model.cpu_gflops_per_second * speed
    return Cost(name, model.strategy, len(items), words, windows, spans, round(gflops, 3), gflops / rate)


def words_that_fit(cost: Cost, seconds: float) -> int:
    """About how many words of such text fit in ``seconds`` (the cost grows linearly with the words)."""
    if cost.seconds <= seconds or cost.words == 0:
        return cost.words
    return max(1, int(math.floor(cost.words * seconds / cost.seconds / 10) * 10) or int(cost.words * seconds / cost.seconds))


def check_budget(costs: Sequence[Cost], seconds: float, what: str = "this text") -> None:
    """Refuse (:class:`InputError`) work whose estimated total is over ``seconds``, saying what fits."""
    total = sum(c.seconds for c in costs)
    if total <= seconds or not costs:
        return
    words = max(c.words for c in costs)
    if len(costs) == 1:
        c = costs[0]
        raise InputError(f"{c.model} takes at most about {words_that_fit(c, seconds):,} words per request; {what} has "
                         f"{c.words:,} ({c.spans:,} candidate spans, {c.gflops:,.0f} GFLOPs, about {c.seconds:.0f} s "
                         f"of model time; the limit is {seconds:.0f} s). Shorten it, or use “Tag a file” or the "
                         "command line (`spandec predict`).")
    worst = max(costs, key=lambda c: c.seconds)
    fit = max(1, int(words * seconds / total))
    raise InputError(f"Running every model on {what} ({words:,} words) needs about {total:.0f} s of model time "
                     f"({worst.model} alone about {worst.seconds:.0f} s); the limit is {seconds:.0f} s, about "
                     f"{fit:,} words. Shorten it, or compare fewer models on the Highlight tab.")
