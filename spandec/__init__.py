"""spandec: SpanDec, SF-SpanDec, PL-Marker and token classification NER side by side."""

import logging as _logging


class _OptionalKernelNoise(_logging.Filter):
    """Drops the import-time notes of optional torchao kernels this machine cannot load ("Failed to load
    .../_C_mxfp8...so", "Detected no triton") and torch's notes on torchao's enums: transformers imports torchao
    whenever it is installed, so without this every command printed them, though only ``int8`` uses torchao."""

    def filter(self, record: _logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith("Failed to load") and "torchao" in msg + str(record.args)
                    or "Detected no triton" in msg or "is an Enum subclass and is now natively supported" in msg)


for _name in ("torchao", "torchao.kernel.intmm", "torch.utils._pytree"):
    _logging.getLogger(_name).addFilter(_OptionalKernelNoise())

from .data import DataError, Sentence, read_conll
from .evaluation import evaluate
from .models import (STRATEGIES, NERConfig, NERModel, PLMarkerConfig, PLMarkerModel, Prediction,
                     PredictStats, SpanDecConfig, SpanDecModel, TokenClassifierConfig, TokenClassifierModel, load_model,
                     new_model)
from .training import TrainingArgs, train

__all__ = [
    "DataError", "Sentence", "read_conll", "evaluate", "train", "TrainingArgs", "load_model", "new_model",
    "STRATEGIES", "NERConfig", "NERModel", "Prediction", "PredictStats", "PLMarkerConfig",
    "PLMarkerModel", "SpanDecConfig", "SpanDecModel", "TokenClassifierConfig", "TokenClassifierModel",
]
__version__ = "0.1.0"
