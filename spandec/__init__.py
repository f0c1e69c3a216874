"""spandec: SpanDec, SF-SpanDec, PL-Marker and token classification NER side by side."""

from .data import DataError, Sentence, read_conll
from .evaluation import evaluate
from .models import (SPAN_STRATEGIES, STRATEGIES, NERConfig, NERModel, PLMarkerConfig, PLMarkerModel, Prediction,
                     PredictStats, SpanDecConfig, SpanDecModel, TokenClassifierConfig, TokenClassifierModel, load_model,
                     new_model)
from .training import TrainingArgs, train

__all__ = [
    "DataError", "Sentence", "read_conll", "evaluate", "train", "TrainingArgs", "load_model", "new_model",
    "STRATEGIES", "SPAN_STRATEGIES", "NERConfig", "NERModel", "Prediction", "PredictStats", "PLMarkerConfig",
    "PLMarkerModel", "SpanDecConfig", "SpanDecModel", "TokenClassifierConfig", "TokenClassifierModel",
]
__version__ = "0.1.0"
