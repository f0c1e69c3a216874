"""SpanDec's one-layer span decoder as traceable graphs for ONNX Runtime: ``(z, attention_mask, batch_idx, starts, ends,
...) -> logits (K, labels)`` for K spans (a graph's inputs: its ``input_names``, built by :func:`graph_feed`), batch,
length and span count dynamic, no data-dependent Python.

What depends on weights only is a constant of the graph: the start/end position queries and their first-layer
query/key/value projections (one table row per (position, slot) up to the encoder's longest text, gathered by the
spans' positions), and the text's key and value projections fused into one matmul (one int8 matmul in onnx-int8).
Two forms, both exact (the decoder layer's softmax over ``[own pair, text]``); :func:`decoder_form` picks one per call:

- :class:`SpanRowsGraph`: each span's start and end query against its own pair and its own text, a text's spans laid out
  in (texts, most spans of a text) slots so that each text's queries meet its keys and values in one batched matmul:
  work grows with texts x most spans x length: the spans the span filter kept;
- :class:`AllRowsGraph`: every (text, position, slot) row attends once and each span takes its two rows
  (``DecoderLayer.forward_positions(all_rows=True)``): work grows with texts x length^2, not with the span count
  (SpanDec, decode-everything, long windows).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .encoder import max_text_length
from .span_decoder import text_bias

__all__ = ["AllRowsGraph", "SpanRowsGraph", "SpanRowsModules", "decoder_call", "decoder_form", "graph_feed", "span_slots"]


def decoder_form(filtered: bool) -> str:
    """The decoder graph for a call: "spans" (each text's 2 x most-spans query rows) for spans a span filter kept, else
    "rows" (every text's 2 x length position rows: SpanDec and decode-everything, where a text has more spans than
    subwords). One rule per call kind, never per batch: the forms agree to float rounding only. On CoNLL++ test
    (SF-SpanDec onnx-int8, batch 8, 1 thread) the per-span form took 15 % less decoder time than every-position rows on
    every batch (the filter keeps a few spans per text)."""
    return "spans" if filtered else "rows"


class _DecoderConstants(nn.Module):
    """The weight-only parts of a model's single decoder layer, computed once at construction (frozen weights)."""

    input_names = ("z", "attention_mask", "batch_idx", "starts", "ends")  # the exported graph's inputs, in order

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

    def memory_rows(self, z: torch.Tensor) -> torch.Tensor:
        """:meth:`memory` on the text's rows flattened: (B x L, 2H), a 2-D matmul (no reshapes around its int8 form)."""
        zn = self.layer.norm_mem(z.reshape(-1, self.hidden))
        return zn @ self.kv_weight.t() + self.kv_bias

    def finish_rows(self, q: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The decoder layer's output projection, residual and MLP block (``DecoderLayer.finish``) on 2-D rows (N, H), as
        explicit matmuls: a 2-D ``nn.Linear`` exports as a Gemm, which the int8 form would leave float32."""
        layer = self.layer
        q = q + attended @ layer.out.weight.t() + layer.out.bias
        hidden = nn.functional.gelu(self.layer.norm_mlp(q) @ layer.fc1.weight.t() + layer.fc1.bias)
        return q + (hidden @ layer.fc2.weight.t() + layer.fc2.bias)

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
    """Each span's start and end query attends over its own pair and its own text: the spans of a text are laid out in
    ``slots`` (texts, R), R the most spans of one text (:func:`span_slots`), so every text's queries meet its keys and
    values in one batched matmul (no per-span copy of a text's keys); each span then takes its two rows (``place``)."""

    input_names = ("z", "attention_mask", "batch_idx", "starts", "ends", "slots", "place")

    def forward(self, z, attention_mask, batch_idx, starts, ends, slots=None, place=None):
        if slots is None:
            slots, place = (torch.from_numpy(a).to(z.device) for a in span_slots(batch_idx.cpu().numpy(), z.shape[0]))
        h, d, H = self.heads, self.head_dim, self.hidden
        B, L, R = z.shape[0], z.shape[1], slots.shape[1]
        kv = self.memory_rows(z)
        # the attention in float32 (bf16 autocast included): keys of padding then add exact zeros, so a window's scores do
        # not depend on how long the other windows of its call are
        with torch.autocast(z.device.type, enabled=False):
            kv = kv.float()
            keys, values = kv.reshape(B, L, 2 * h, d).transpose(1, 2).split(h, dim=1)  # (B, h, L, d) each
            padded = self.table[torch.stack([starts * 2, ends * 2 + 1], dim=1)[slots]]  # (B, R, 2, 4H): [query | Q | K | V]
            Qp, Kp, Vp = (padded[..., k * H:(k + 1) * H].reshape(B, R, 2, h, d) for k in (1, 2, 3))
            Qp = Qp * self.scale
            # the pair's own logits and weighted values elementwise (B x R x heads 2x2 matmuls would each be a call)
            lq = (Qp.unsqueeze(3) * Kp.unsqueeze(2)).sum(-1)  # (B, R, 2 queries, 2 keys, h)
            lz = Qp.permute(0, 3, 1, 2, 4).reshape(B, h, 2 * R, d) @ keys.transpose(-1, -2)  # (B, h, 2R, L)
            lz = lz + text_bias(attention_mask, z.dtype)[:, None, None, :]
            w = torch.cat([lq.permute(0, 4, 1, 2, 3).reshape(B, h, 2 * R, 2), lz], dim=-1).softmax(-1)
            w_pair = w[..., :2].reshape(B, h, R, 2, 2).permute(0, 2, 3, 4, 1).unsqueeze(-1)  # (B, R, 2, 2, h, 1)
            attended = (w_pair * Vp.unsqueeze(2)).sum(3) + (w[..., 2:] @ values).reshape(B, h, R, 2, d).permute(0, 2, 3, 1, 4)
            attended = attended.reshape(B * R, 2 * H)[place].reshape(-1, H)  # (2K, H): each span's start row, then end row
        q = padded[..., :H].reshape(B * R, 2 * H)[place].reshape(-1, H)
        return self.classifier(self.final_norm(self.finish_rows(q, attended)).reshape(-1, 2 * H))


class SpanRowsModules(SpanRowsGraph):
    """:class:`SpanRowsGraph` for the torch forms: the key/value projection and the MLP block through the decoder layer's
    own modules (so a runtime's conversions of them apply: bf16's row blocks, autocast's weight cache)."""

    def memory_rows(self, z: torch.Tensor) -> torch.Tensor:
        zn = self.layer.norm_mem(z.reshape(-1, self.hidden))
        return torch.cat([self.layer.key(zn), self.layer.value(zn)], dim=-1)

    def finish_rows(self, q: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        return self.layer.finish(q, attended.view(-1, self.heads, self.head_dim))


def span_slots(batch_idx: np.ndarray, texts: int) -> tuple[np.ndarray, np.ndarray]:
    """Where :class:`SpanRowsGraph` lays out spans of text rows ``batch_idx`` (K,), ascending: ``slots`` (texts, R) the
    index of each text's r-th span (0 where a text has fewer than R), ``place`` (K,) each span's slot as text x R + r."""
    counts = np.bincount(batch_idx, minlength=texts)
    width = max(int(counts.max()) if len(batch_idx) else 0, 1)
    rank = np.arange(len(batch_idx)) - (np.cumsum(counts) - counts)[batch_idx]
    place = batch_idx * width + rank
    slots = np.zeros(texts * width, dtype=np.int64)
    slots[place] = np.arange(len(batch_idx))
    return slots.reshape(texts, width), place.astype(np.int64)


def graph_feed(graph, z, attention_mask, batch_idx, starts, ends) -> dict[str, np.ndarray]:
    """The inputs ``graph`` (a decoder graph class, or an ONNX Runtime session of one) takes for these spans, as numpy
    arrays by name (the span layout of :func:`span_slots` where it takes ``slots``)."""
    names = [i.name for i in graph.get_inputs()] if hasattr(graph, "get_inputs") else list(graph.input_names)
    feed = {"z": z.float().cpu().numpy(), "attention_mask": attention_mask.cpu().numpy(), "batch_idx": batch_idx.cpu().numpy(),
            "starts": starts.cpu().numpy(), "ends": ends.cpu().numpy()}
    if "slots" in names:
        feed["slots"], feed["place"] = span_slots(feed["batch_idx"], feed["z"].shape[0])
    return {name: feed[name] for name in names}


def decoder_call(sessions: dict, z, attention_mask, batch_idx, starts, ends, filtered: bool = False) -> torch.Tensor:
    """Logits (K, labels) of K spans through the form :func:`decoder_form` picks of ``sessions`` (form -> ONNX Runtime
    session)."""
    session = sessions[decoder_form(filtered)]
    return torch.from_numpy(session.run(None, graph_feed(session, z, attention_mask, batch_idx, starts, ends))[0])
