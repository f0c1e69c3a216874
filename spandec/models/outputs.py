"""Typed outputs of prediction: entities with the work it took (returned, never stashed on the model)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PredictStats", "Prediction"]


@dataclass
class PredictStats:
    """Work done by one prediction call: candidate spans enumerated and spans run through the decoder."""

    candidates: int = 0
    decoded: int = 0

    def __add__(self, other: "PredictStats") -> "PredictStats":
        return PredictStats(self.candidates + other.candidates, self.decoded + other.decoded)

    @property
    def kept_fraction(self) -> float:
        """Share of candidate spans decoded (1.0 when there were none)."""
        return self.decoded / self.candidates if self.candidates else 1.0


@dataclass
class Prediction:
    """What ``predict_with_stats`` returns: entities of each input, and the work it took."""

    entities: list[list[dict]]
    stats: PredictStats
