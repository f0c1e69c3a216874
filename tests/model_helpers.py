"""Helpers shared by the model tests: labels, tiny-model settings, constructors."""

from __future__ import annotations

import torch
from torch import nn

import spandec

LABELS = ["LOC", "MISC", "ORG", "PER"]
STRATEGIES = ("token", "pl-marker", "spandec", "sf-spandec")
SPANMARKER_KEYS = {"span", "label", "score", "char_start_index", "char_end_index", "word_start_index", "word_end_index"}

# Model settings: short spans (the fixture's longest mention has 4 words), small windows
# (24 subwords with the two special tokens; every fixture sentence fits in one, a few joined sentences need several).
MODEL_KW = {"max_span_words": 4, "window_subwords": 24, "window_context_words": 4}


def make(strategy: str, encoder: str, seed: int = 0, **kwargs):
    """A fresh tiny model of ``strategy`` with a fixed seed."""
    torch.manual_seed(seed)
    return spandec.new_model(strategy, LABELS, encoder, **kwargs)


def no_dropout(model):
    """Switch dropout off (tiny models memorize much faster without it)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def entity_set(preds) -> list[tuple[int, int, str]]:
    """(start, end, label) triples of predicted entity dicts."""
    return [(e["word_start_index"], e["word_end_index"], e["label"]) for e in preds]
