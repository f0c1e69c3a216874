"""PL-Marker with packed levitated markers, as the SpanMarker library builds it.

Each training/inference row is the text followed by the start markers and then the
end markers of a group of spans. A start (end) marker has the position id of its
span's first (last) subword. Text attends only to text; each marker attends to the
text, itself and its partner marker. A span is represented by the concatenation of
its two marker states, scored by a linear layer over the types plus O. Spans are
packed in groups of at most ``marker_max_length`` markers, the text re-encoded for
each group; rows are padded only to the longest row in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .encoder import text_position_ids
from .base import NERConfig, length_mask, pad
from .outputs import PredictStats
from .span_model import SpanModel


@dataclass
class PLMarkerConfig(NERConfig):
    """PL-Marker settings: markers per packed group (SpanMarker's ``marker_max_length``)."""

    marker_max_length: int = 128


class PLMarkerModel(SpanModel):
    """Packed levitated markers over a full encoder; marker embeddings are learned vectors."""

    config_class = PLMarkerConfig
    model_type = "pl-marker"

    def __init__(self, config: PLMarkerConfig, encoder: nn.Module, tokenizer, removed_layers=()):
        super().__init__(config, encoder, tokenizer)
        if config.marker_max_length < 2 or config.marker_max_length % 2:
            raise ValueError("marker_max_length must be an even number >= 2")
        hidden = encoder.config.hidden_size
        word_emb = encoder.get_input_embeddings().weight.detach()
        self.marker_start = nn.Parameter(word_emb.mean(0).clone() + torch.randn(hidden) * 0.02)
        self.marker_end = nn.Parameter(word_emb.mean(0).clone() + torch.randn(hidden) * 0.02)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * hidden, len(self.id2label))

    def collate(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        """One row per group of spans: text ids, marker positions, labels; rows padded to the longest."""
        group = self.config.marker_max_length // 2
        rows = {"input_ids": [], "starts": [], "ends": [], "labels": [], "feature": []}
        for i, f in enumerate(features):
            n = len(f["span_start"])
            for g in range(0, max(n, 1), group):
                rows["input_ids"].append(f["input_ids"])
                rows["starts"].append(f["span_start"][g : g + group])
                rows["ends"].append(f["span_end"][g : g + group])
                rows["labels"].append(f.get("span_labels", [0] * n)[g : g + group])
                rows["feature"].append(i)
        batch = {
            "input_ids": pad(rows["input_ids"], self.tokenizer.pad_token_id or 0),
            "text_mask": length_mask([len(r) for r in rows["input_ids"]]),
            "span_start": pad(rows["starts"], 0),
            "span_end": pad(rows["ends"], 0),
            "span_mask": length_mask([len(r) for r in rows["starts"]]),
            "row_feature": torch.tensor(rows["feature"]),
        }
        if "span_labels" in features[0]:
            batch["span_labels"] = pad(rows["labels"], -100)
            batch["span_labels"][~batch["span_mask"]] = -100
        return batch

    def build_inputs(self, input_ids, text_mask, span_start, span_end, span_mask):
        """inputs_embeds, position ids and the 4-D additive attention mask of packed rows."""
        rows, L = input_ids.shape
        K = span_start.shape[1]
        emb = self.encoder.get_input_embeddings()(input_ids)
        markers = torch.cat(
            [self.marker_start.expand(rows, K, -1), self.marker_end.expand(rows, K, -1)], dim=1
        ).to(emb.dtype)
        embeds = torch.cat([emb, markers], dim=1)
        text_pos = text_position_ids(self.encoder, L, input_ids.device).expand(rows, -1)
        positions = torch.cat([text_pos, text_pos.gather(1, span_start), text_pos.gather(1, span_end)], dim=1)
        T = L + 2 * K
        allow = torch.zeros(rows, T, T, dtype=torch.bool, device=input_ids.device)
        allow[:, :, :L] = text_mask[:, None, :]  # everyone sees the (unpadded) text
        allow[:, :L, L:] = False  # text never sees markers
        eye = torch.eye(K, dtype=torch.bool, device=input_ids.device) & span_mask[:, None, :]
        allow[:, L : L + K, L : L + K] = eye  # start marker sees itself
        allow[:, L : L + K, L + K :] = eye  # ... and its end marker
        allow[:, L + K :, L : L + K] = eye
        allow[:, L + K :, L + K :] = eye
        diag = torch.arange(T, device=input_ids.device)
        allow[:, diag, diag] = True  # padding rows attend to themselves (no empty softmax)
        bias = torch.zeros(rows, 1, T, T, dtype=emb.dtype, device=input_ids.device)
        bias.masked_fill_(~allow[:, None], torch.finfo(emb.dtype).min)
        return embeds, positions, bias

    def hidden_states(self, input_ids, text_mask, span_start, span_end, span_mask) -> torch.Tensor:
        """Encoder states of packed rows: (rows, L + 2K, H)."""
        embeds, positions, bias = self.build_inputs(input_ids, text_mask, span_start, span_end, span_mask)
        return self.run_encoder(inputs_embeds=embeds, position_ids=positions, attention_mask=bias)

    def forward(self, input_ids, text_mask, span_start, span_end, span_mask, span_labels=None, **_):
        h = self.hidden_states(input_ids, text_mask, span_start, span_end, span_mask)
        L, K = input_ids.shape[1], span_start.shape[1]
        rep = torch.cat([h[:, L : L + K], h[:, L + K :]], dim=-1)
        logits = self.classifier(self.dropout(rep))
        out = {"logits": logits}
        if span_labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits.flatten(0, 1).float(), span_labels.flatten(), ignore_index=-100)
        return out

    #: packed rows (marker groups) per encoder forward at inference: bounds memory whatever the text length
    max_rows_per_forward = 4

    def score_windows(self, features: Sequence[dict], pause=None, **options) -> tuple[list, PredictStats]:
        batch = {k: v.to(self.device) for k, v in self.collate(features).items()}
        rows, step, parts = batch["input_ids"].shape[0], self.max_rows_per_forward, []
        for r in range(0, rows, step):
            if r and pause is not None:
                pause()
            parts.append(self.forward(**{k: v[r : r + step] for k, v in batch.items()})["logits"].float().softmax(-1).cpu())
        probs = torch.cat(parts)
        n = [len(f["spans"]) for f in features]
        per_feature: list[list[torch.Tensor]] = [[] for _ in features]
        for r, i in enumerate(batch["row_feature"].tolist()):
            per_feature[i].append(probs[r, : int(batch["span_mask"][r].sum())])
        return [
            self.candidates_from_probs(f["spans"], torch.cat(p) if p else torch.zeros(0, len(self.id2label)))
            for f, p in zip(features, per_feature)
        ], PredictStats(sum(n), sum(n))
