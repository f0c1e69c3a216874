"""spandec: SpanDec, SF-SpanDec, PL-Marker and token classification NER side by side."""

from .data import DataError, Sentence, read_conll
from .modeling_base import NERConfig, NERModel
from .pl_marker import PLMarkerConfig, PLMarkerModel
from .registry import STRATEGIES, new_model
from .span_decoder import SpanDecConfig, SpanDecModel, analyze, cross_attention
from .token_classifier import TokenClassifierConfig, TokenClassifierModel

load_model = NERModel.from_pretrained

__all__ = [
    "DataError", "Sentence", "read_conll", "NERConfig", "NERModel", "PLMarkerConfig", "PLMarkerModel",
    "STRATEGIES", "new_model", "SpanDecConfig", "SpanDecModel", "analyze", "cross_attention",
    "TokenClassifierConfig", "TokenClassifierModel", "load_model",
]
__version__ = "0.1.0"
