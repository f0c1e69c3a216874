"""Strategy names and dispatch: the one place that knows all four model classes (like transformers' ``auto/``).

Model files know nothing of each other or of this module; :func:`load_model` reads a saved
model's ``model_type`` and calls that class's ``from_pretrained``. What a strategy can do is asked of its class
(``NERModel.enumerates_spans``, ``has_span_decoder``, ``predict_options``, ...), never decided by its name.
Adding a strategy: its model file, a line in ``MODEL_CLASSES`` and its name in ``STRATEGIES``.
"""

from __future__ import annotations

import os
from typing import Sequence

import torch

from .base import NERModel, read_saved_config
from .encoder import DEFAULT_ENCODER
from .pl_marker import PLMarkerModel
from .spandec import SpanDecModel
from .token_classifier import TokenClassifierModel

STRATEGIES = ("token", "pl-marker", "spandec", "sf-spandec")
MODEL_CLASSES: dict[str, type[NERModel]] = {
    name: klass
    for klass in (TokenClassifierModel, PLMarkerModel, SpanDecModel)
    for name in (klass.model_type, *klass.model_types)
}


def model_class(model_type: str) -> type[NERModel]:
    """The model class saved under ``model_type`` in config.json (or named by a strategy)."""
    if model_type not in MODEL_CLASSES:
        raise ValueError(f"unknown model type {model_type!r}; expected one of {', '.join(STRATEGIES)}")
    return MODEL_CLASSES[model_type]


def saved_class(config: dict) -> type[NERModel] | None:
    """The model class of a saved config.json dict (None for an unknown ``model_type``)."""
    return MODEL_CLASSES.get(config.get("model_type", ""))


def load_model(name_or_path: str | os.PathLike, device: str | torch.device | None = None,
               precision: str | None = None) -> NERModel:
    """Load any saved spandec model from a local folder or a Hub id (the class comes from its config.json).

    ``precision`` (fp32, bf16, int8, onnx, onnx-int8, auto) overrides the precision the folder records.
    """
    path, data = read_saved_config(name_or_path)
    return model_class(data.get("model_type", "")).from_pretrained(path, device=device, precision=precision)


def new_model(strategy: str, labels: Sequence[str], encoder: str | None = None, **kwargs) -> NERModel:
    """A fresh model of ``strategy`` on a pretrained encoder (its class's ``strategy_settings``: ``sf-spandec``
    switches the span filter on)."""
    klass = model_class(strategy)
    return klass.from_encoder(labels, encoder or DEFAULT_ENCODER, **{**klass.strategy_settings(strategy), **kwargs})
