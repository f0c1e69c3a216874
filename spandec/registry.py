"""Strategy names -> model classes (the one place that knows all four)."""

from __future__ import annotations

STRATEGIES = ("token", "pl-marker", "spandec", "sf-spandec")


def model_class(model_type: str):
    """The model class saved under ``model_type`` in config.json (or named by a strategy)."""
    from .pl_marker import PLMarkerModel
    from .span_decoder import SpanDecModel
    from .token_classifier import TokenClassifierModel

    classes = {
        "token": TokenClassifierModel,
        "token-classification": TokenClassifierModel,
        "pl-marker": PLMarkerModel,
        "spandec": SpanDecModel,
        "sf-spandec": SpanDecModel,
    }
    if model_type not in classes:
        raise ValueError(f"unknown model type {model_type!r}; expected one of {', '.join(STRATEGIES)}")
    return classes[model_type]


def new_model(strategy: str, labels, encoder: str | None = None, **kwargs):
    """A fresh model of ``strategy`` on a pretrained encoder; ``sf-spandec`` switches the span filter on."""
    from .encoder import DEFAULT_ENCODER

    if strategy == "sf-spandec":
        kwargs.setdefault("span_filter", True)
    elif strategy == "spandec":
        kwargs.setdefault("span_filter", False)
    return model_class(strategy).from_encoder(labels, encoder or DEFAULT_ENCODER, **kwargs)
