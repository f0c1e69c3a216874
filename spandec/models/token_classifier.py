"""Token classification baseline: encoder + linear head over BIO tags, first-subword labelling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..flops import EncoderShape, token_classification_gflops
from ..spans import Candidate, bio_to_candidates
from .base import NERConfig, NERModel, WindowInput, length_mask, pad
from .outputs import PredictStats


@dataclass
class TokenClassifierConfig(NERConfig):
    """Token classification has no settings beyond the shared ones."""


class TokenClassifierModel(NERModel):
    """Encoder + dropout + linear layer over ``O, B-X, I-X, ...``; each word labelled at its first subword."""

    config_class = TokenClassifierConfig
    model_type = "token"
    model_types = ("token-classification",)
    auto_precisions = ("onnx-int8", "bf16")  # onnx-int8 cost 0.22 F1 on CoNLL++ test (comparisons/results/serving.md)
    cpu_gflops_per_second = 40.0

    def __init__(self, config: TokenClassifierConfig, encoder: nn.Module, tokenizer, removed_layers=()):
        super().__init__(config, encoder, tokenizer)
        self.tags = ["O"] + [f"{p}-{t}" for t in config.labels for p in ("B", "I")]
        self.tag2id = {t: i for i, t in enumerate(self.tags)}
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, len(self.tags))

    @property
    def output_rows(self) -> list[str]:
        """The BIO tags the classifier scores."""
        return self.tags

    def window_features(self, window: WindowInput, spans=None) -> dict:
        feat = {"input_ids": window.input_ids, "word_first": window.word_first}
        if spans is not None:
            n = len(window.word_first)
            tags = [0] * n
            for s, e, t in spans:
                tags[s] = self.tag2id[f"B-{t}"]
                for k in range(s + 1, e):
                    tags[k] = self.tag2id[f"I-{t}"]
            cs, ce = window.core
            labels = [-100] * len(window.input_ids)
            for k in range(cs, ce):
                labels[window.word_first[k]] = tags[k]
            feat["labels"] = labels
        return feat

    def collate(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        ids = pad([f["input_ids"] for f in features], self.tokenizer.pad_token_id or 0)
        batch = {"input_ids": ids, "attention_mask": length_mask([len(f["input_ids"]) for f in features]).long()}
        if "labels" in features[0]:
            batch["labels"] = pad([f["labels"] for f in features], -100)
        return batch

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Tag logits for every subword."""
        hidden = self.run_encoder(input_ids=input_ids, attention_mask=attention_mask)
        return self.classifier(self.dropout(hidden))

    def forward(self, input_ids, attention_mask, labels=None, **_) -> dict[str, torch.Tensor]:
        logits = self.logits(input_ids, attention_mask)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        return out

    def gflops(self, S: float, M: float, kept: float = 1.0) -> float:
        """The encoder over S tokens and the BIO tag layer (no spans)."""
        return token_classification_gflops(EncoderShape.from_hf_config(self.encoder.config), S, num_labels=len(self.tags))

    def score_windows(self, features: Sequence[dict], pause=None) -> tuple[list[torch.Tensor], PredictStats]:
        batch = {k: v.to(self.device) for k, v in self.collate(features).items()}
        probs = self.logits(batch["input_ids"], batch["attention_mask"]).float().softmax(-1).cpu()
        return [probs[i, f["word_first"]] for i, f in enumerate(features)], PredictStats()

    def merge(self, windows: Sequence[WindowInput], results: Sequence[torch.Tensor]) -> list[Candidate]:
        tags, scores = [], []
        for win, probs in zip(windows, results):
            cs, ce = win.core
            best, ids = probs[cs:ce].max(-1)
            tags += [self.tags[i] for i in ids.tolist()]
            scores += best.tolist()
        return bio_to_candidates(tags, scores)
