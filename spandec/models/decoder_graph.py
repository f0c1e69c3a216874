"""SpanDec's one-layer span decoder as traceable graphs for ONNX Runtime: ``(z, attention_mask, batch_idx, starts, ends)
-> logits (K, labels)`` for K spans, batch, length and span count dynamic, no data-dependent Python.

What depends on weights only is a constant of the graph: the start/end position queries and their first-layer
query/key/value projections (one table row per (position, slot) up to the encoder's longest text, gathered by the
spans' positions), and the text's key and value projections fused into one matmul (one int8 matmul in onnx-int8).
Two forms, both exact (the decoder layer's softmax over ``[own pair, text]``); :func:`decoder_form` picks one per call:

- :class:`SpanRowsGraph`: each span's start and end query against its own text's keys and values, gathered per
  span: work and memory grow with spans x length, the cheaper form when the span filter kept few spans;
- :class:`AllRowsGraph`: every (text, position, slot) row attends once and each span takes its two rows
  (``DecoderLayer.forward_positions(all_rows=True)``): work grows with texts x length^2, not with the span count
  (SpanDec, decode-everything, long windows).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .encoder import max_text_length
from .span_decoder import text_bias

__all__ = ["AllRowsGraph", "SpanRowsGraph", "decoder_form"]


def decoder_form(spans: int, texts: int, length: int) -> str:
    """The cheaper decoder graph for a call: "spans" while spans x 4 <= texts x length, else "rows". Per call on
    CoNLL++ test (SF-SpanDec onnx-int8, batch 8, 1 thread) the per-span form took 20-40 % less time below that
    ratio and up to 1.8x more above it (5 texts x 128 subwords, 244 spans: 27 ms vs 15 ms)."""
    return "spans" if 4 * spans <= texts * length else "rows"


class _DecoderConstants(nn.Module):
    """The weight-only parts of a model's single decoder layer, computed once at construction (frozen weights)."""

    def __init__(self, model):
        super().__init__()
        layer = model.decoder[0]
        self.layer, self.final_norm, self.classifier = layer, model.final_norm, model.classifier
        self.hidden, self.heads, self.head_dim = layer.heads * layer.head_dim, layer.heads, layer.head_dim
        self.scale = 1.0 / math.sqrt(layer.head_dim)
        with torch.no_grad():
            length = max_text_length(model.encoder.config, model.tokenizer)
            qpos = model.position_queries(length).float()  # (P, 2, H)
            projected = [t.flatten(-2) for t in layer.project(qpos)]  # Q, K, V: (P, 2, H) each
            # row 2p: the start query at position p, row 2p + 1: the end query; columns [query | Q | K | V]
            self.register_buffer("table", torch.cat([qpos, *projected], dim=-1).flatten(0, 1).clone(), persistent=False)
            self.register_buffer("kv_weight", torch.cat([layer.key.weight, layer.value.weight]).clone(), persistent=False)
            self.register_buffer("kv_bias", torch.cat([layer.key.bias, layer.value.bias]).clone(), persistent=False)

    def memory(self, z: torch.Tensor) -> torch.Tensor:
        """The text's keys and values in one matmul: (B, L, 2H)."""
        return nn.functional.linear(self.layer.norm_mem(z), self.kv_weight, self.kv_bias)

    def rows(self, starts: torch.Tensor, ends: torch.Tensor) -> list[torch.Tensor]:
        """Each span's start and end query and their Q, K, V projections: four (K, 2, H) tensors."""
        return list(self.table[torch.stack([starts * 2, ends * 2 + 1], dim=1)].split(self.hidden, dim=-1))

    def head(self, q: torch.Tensor) -> torch.Tensor:
        """Final norm and classifier of the span's two outputs (K, 2, H) -> logits (K, labels)."""
        return self.classifier(self.final_norm(q).flatten(-2))


class AllRowsGraph(_DecoderConstants):
    """Every (text, position, slot) row attends once; each span takes its start and end rows (exact split softmax)."""

    def forward(self, z, attention_mask, batch_idx, starts, ends):
        h, d, H = self.heads, self.head_dim, self.hidden
        length = z.shape[1]
        table = self.table[: 2 * length].view(length, 2, 4 * H)  # this batch's positions
        qpos, *projected = table.split(H, dim=-1)
        kv = self.memory(z)
        mem_k, mem_v = kv[..., :H].unflatten(-1, (h, d)), kv[..., H:].unflatten(-1, (h, d))
        q = self.layer.forward_positions(qpos, batch_idx, starts, ends, mem_k, mem_v, text_bias(attention_mask, z.dtype),
                                         projected=tuple(t.unflatten(-1, (h, d)) for t in projected), all_rows=True)
        return self.head(q)


class SpanRowsGraph(_DecoderConstants):
    """Each span's start and end query attends over its own pair and its own text (keys and values gathered per span)."""

    def forward(self, z, attention_mask, batch_idx, starts, ends):
        h, d, H = self.heads, self.head_dim, self.hidden
        q, Q, K, V = self.rows(starts, ends)
        kv = self.memory(z)
        B, L = kv.shape[0], kv.shape[1]
        keys = kv[..., :H].reshape(B, L, h, d).permute(0, 2, 3, 1)[batch_idx]  # (K, h, d, L)
        values = kv[..., H:].reshape(B, L, h, d).transpose(1, 2)[batch_idx]  # (K, h, L, d)
        n = batch_idx.shape[0]
        Qh = Q.reshape(n, 2, h, d).transpose(1, 2) * self.scale  # (K, h, 2, d)
        lz = Qh @ keys + text_bias(attention_mask, z.dtype)[batch_idx][:, None, None, :]  # (K, h, 2, L)
        lq = Qh @ K.reshape(n, 2, h, d).permute(0, 2, 3, 1)  # (K, h, 2, 2): the pair's own keys
        w = torch.cat([lq, lz], dim=-1).softmax(-1)
        attended = w[..., :2] @ V.reshape(n, 2, h, d).transpose(1, 2) + w[..., 2:] @ values  # (K, h, 2, d)
        return self.head(self.layer.finish(q, attended.transpose(1, 2)))
