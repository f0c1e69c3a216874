"""The four NER strategies: one file per model family, dispatch in :mod:`spandec.models.auto`."""

from .auto import STRATEGIES, load_model, model_class, new_model, saved_class
from .base import NERConfig, NERModel
from .outputs import Prediction, PredictStats
from .runtime import PRECISIONS
from .pl_marker import PLMarkerConfig, PLMarkerModel
from .spandec import SpanDecConfig, SpanDecModel
from .token_classifier import TokenClassifierConfig, TokenClassifierModel

__all__ = [
    "STRATEGIES", "load_model", "model_class", "new_model", "saved_class", "NERConfig",
    "NERModel", "Prediction", "PredictStats", "PLMarkerConfig", "PLMarkerModel", "SpanDecConfig", "SpanDecModel",
    "TokenClassifierConfig", "TokenClassifierModel", "PRECISIONS",
]
