"""SpanDec and SF-SpanDec (Maracani et al., 2026).

The encoder runs without its last layer(s); a light decoder then builds one
representation per candidate span. Span (i, j) gets two queries,
``m_start + pos(i)`` and ``m_end + pos(j)`` (learned markers plus the encoder's
position embedding of the span's first and last subword). Each decoder layer lets
the two queries cross-attend, pre-norm, to ``[q_i, q_j, z_1..z_L]``: the text and
their own pair, never other spans. A shared MLP follows; the two outputs are
concatenated and a linear layer scores the entity types plus O.

SF-SpanDec adds a linear token classifier (entity vs O) on the encoder output,
trained jointly; at inference, spans holding a word whose entity probability is
below the threshold are dropped before the decoder runs (threshold 0 = SpanDec).

The decoder layer and its exact first-layer fast path: :mod:`spandec.models.span_decoder`; the filter-and-decoder
path over a batch's spans: :mod:`spandec.models.span_scoring`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig

from ..flops import EncoderShape, sf_spandec_gflops, spandec_gflops
from ..spans import Candidate, check_threshold
from .base import NERConfig, length_mask, pad
from .outputs import PredictStats
from .span_model import SpanModel
from .encoder import layer_list, position_embedding, resolve_encoder, text_position_ids, truncate_layers
from .decoder_graph import AllRowsGraph, SpanRowsGraph, SpanRowsModules, decoder_form
from .span_decoder import DecoderLayer, text_bias
from .span_scoring import BatchScores, WindowScores, filter_decode, score_group


@dataclass
class SpanDecConfig(NERConfig):
    """SpanDec settings: encoder/decoder depth (paper Table 8) and the span filter."""

    encoder_layers: int | None = None  # None = the pretrained encoder's layers minus one
    decoder_layers: int = 1
    decoder_heads: int | None = None  # None = the encoder's heads
    decoder_ffn: int | None = None  # None = the encoder's intermediate size
    decoder_init: str = "encoder"  # "encoder": start from the dropped encoder layers; "random"
    span_filter: bool = False  # SF-SpanDec: token classifier + pruning
    threshold: float = 0.5  # SF pruning threshold used when predict() gets none
    token_loss_weight: float = 1.0


class SpanDecModel(SpanModel):
    """SpanDec; with ``config.span_filter`` SF-SpanDec."""

    config_class = SpanDecConfig
    model_type = "spandec"
    model_types = ("sf-spandec",)
    has_span_decoder = True
    predict_options = ("threshold",)  # the span filter's; checked, and 0 without a filter
    onnx_parts = ("encoder", "decoder")  # the decoder with one layer (decoder_graphs)
    cpu_gflops_per_second = 20.0  # a 10,000-character text: SF-SpanDec 6.6-10 s, ~160 GFLOPs; per-span work runs slower

    def __init__(self, config: SpanDecConfig, encoder: nn.Module, tokenizer, removed_layers=()):
        super().__init__(config, encoder, tokenizer)
        ec = encoder.config
        hidden = ec.hidden_size
        eps = getattr(ec, "layer_norm_eps", 1e-12)
        heads = config.decoder_heads or ec.num_attention_heads
        ffn = config.decoder_ffn or ec.intermediate_size
        self.decoder = nn.ModuleList(
            DecoderLayer(hidden, heads, ffn, config.dropout, eps) for _ in range(config.decoder_layers)
        )
        self.marker_start = nn.Parameter(torch.randn(hidden) * 0.02)
        self.marker_end = nn.Parameter(torch.randn(hidden) * 0.02)
        self.own_positions = None if position_embedding(encoder) is not None else nn.Embedding(4096, hidden)
        self.final_norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * hidden, len(self.id2label))
        self.token_head = nn.Linear(hidden, 1) if config.span_filter else None
        if config.decoder_init == "encoder" and removed_layers:
            for k, layer in enumerate(self.decoder):
                self._init_from(layer, removed_layers[min(k, len(removed_layers) - 1)])

    @classmethod
    def strategy_of(cls, config: SpanDecConfig, threshold: float | None = None) -> str:
        """sf-spandec with a span filter, except at threshold 0, which keeps every span: spandec."""
        return "sf-spandec" if cls.filters_spans(config) and threshold != 0 else "spandec"

    @classmethod
    def filters_spans(cls, config: SpanDecConfig) -> bool:
        return bool(getattr(config, "span_filter", False))

    @classmethod
    def strategy_settings(cls, strategy: str) -> dict:
        return {"span_filter": strategy == "sf-spandec"}

    #: onnx-int8 within 0.05 F1 of fp32 on CoNLL++ test for both (SF-SpanDec 87.00, SpanDec 86.91 vs 86.89) and the
    #: fastest form at 1 and 2 threads (comparisons/results/serving.md)
    auto_precisions = ("onnx-int8", "bf16")

    def gflops(self, S: float, M: float, kept: float = 1.0) -> float:
        """At its own depths; with a span filter and ``kept`` < 1, ``kept`` of the queries decoded plus the
        filter head (one logit per token)."""
        enc = EncoderShape.from_hf_config(self.encoder.config)
        kwargs = dict(num_types=len(self.config.labels), encoder_layers=enc.layers, decoder_layers=self.config.decoder_layers)
        if self.has_span_filter and kept < 1.0:
            return sf_spandec_gflops(enc, S, M, kept_fraction=max(0.0, kept), token_head_labels=1, **kwargs)
        return spandec_gflops(enc, S, M, **kwargs)

    @classmethod
    def encoder_layers(cls, config: SpanDecConfig) -> int:
        if config.encoder_layers is None:
            config.encoder_layers = AutoConfig.from_pretrained(resolve_encoder(config.encoder)).num_hidden_layers - 1
        return config.encoder_layers

    def _init_from(self, layer: DecoderLayer, source: nn.Module) -> None:
        """Copy a dropped BERT-style layer's attention and MLP weights into a decoder layer (shapes permitting).

        The decoder still trains at the new-weights rate: it is repurposed (position queries
        cross-attending to the text), not used as pretrained.
        """
        pairs = {
            "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
            "out": "attention.output.dense", "fc1": "intermediate.dense", "fc2": "output.dense",
        }
        for mine, theirs in pairs.items():
            src = source.get_submodule(theirs) if _has(source, theirs) else None
            dst = getattr(layer, mine)
            if src is None or src.weight.shape != dst.weight.shape:
                continue
            dst.load_state_dict(src.state_dict())

    def with_depth(self, encoder_layers: int | None = None, decoder_layers: int | None = None) -> tuple["SpanDecModel", str]:
        """A copy with another encoder/decoder depth (paper Table 8), warm-started from this model.

        The encoder keeps its first ``encoder_layers`` trained layers (at most the current number);
        the first ``decoder_layers`` decoder layers are kept and extra ones start as the identity
        (zeroed output projections of their residual branches). Returns the model and a summary.
        """
        have_enc, have_dec = len(layer_list(self.encoder)), len(self.decoder)
        enc = have_enc if encoder_layers is None else encoder_layers
        dec = have_dec if decoder_layers is None else decoder_layers
        if not 1 <= enc <= have_enc:
            raise ValueError(f"the model has {have_enc} trained encoder layers; cannot keep {enc}")
        if dec < 1:
            raise ValueError(f"decoder layers must be at least 1, got {dec}")
        encoder = copy.deepcopy(self.encoder)
        truncate_layers(encoder, enc)
        config = replace(self.config, encoder_layers=enc, decoder_layers=dec)
        model = type(self)(config, encoder, self.tokenizer, removed_layers=[])
        state = {k: v for k, v in self.state_dict().items()
                 if not k.startswith("encoder.") and not (k.startswith("decoder.") and int(k.split(".")[1]) >= dec)}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or not all(k.startswith(("encoder.", "decoder.")) for k in missing):
            raise RuntimeError(f"with_depth: unmatched weights {missing + unexpected}")
        for layer in list(model.decoder)[have_dec:]:
            for proj in (layer.out, layer.fc2):
                nn.init.zeros_(proj.weight)
                nn.init.zeros_(proj.bias)
        added = max(0, dec - have_dec)
        note = (f"encoder {have_enc} -> {enc} layers, decoder {have_dec} -> {dec} layers"
                + (f" ({added} new identity layer{'s' if added > 1 else ''})" if added else ""))
        return model.to(self.device), note

    def as_strategy(self, strategy: str) -> "SpanDecModel":
        """SpanDec <-> SF-SpanDec warm start: every trained weight kept; SF gains a fresh filter head (or loses it)."""
        if strategy not in (self.model_type, *self.model_types):
            return super().as_strategy(strategy)
        if strategy == self.strategy:
            return self
        config = replace(self.config, **self.strategy_settings(strategy))
        model = type(self)(config, copy.deepcopy(self.encoder), self.tokenizer, removed_layers=[])
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("token_head.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("token_head.") for k in missing):
            raise RuntimeError(f"as_strategy: unmatched weights {missing + unexpected}")
        return model.to(self.device)

    # ----- features ------------------------------------------------------------------------
    def window_features(self, window, spans=None) -> dict:
        feat = super().window_features(window, spans)
        if spans is not None and self.token_head is not None:
            inside = [0.0] * len(window.word_first)
            for s, e, _ in spans:
                for k in range(s, e):
                    inside[k] = 1.0
            feat["word_labels"] = inside
        return feat

    def collate_text(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        """The text half of a batch (ids, masks, each word's first subword): what inference pads."""
        return {
            "input_ids": pad([f["input_ids"] for f in features], self.tokenizer.pad_token_id or 0),
            "attention_mask": length_mask([len(f["input_ids"]) for f in features]).long(),
            "word_first": pad([f["word_first"] for f in features], 0),
            "word_mask": length_mask([len(f["word_first"]) for f in features]),
        }

    def collate(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = {
            **self.collate_text(features),
            "span_start": pad([f["span_start"] for f in features], 0),
            "span_end": pad([f["span_end"] for f in features], 0),
            "span_mask": length_mask([len(f["span_start"]) for f in features]),
        }
        if "span_labels" in features[0]:
            batch["span_labels"] = pad([f["span_labels"] for f in features], -100)
        if "word_labels" in features[0]:
            width = batch["word_first"].shape[1]
            batch["word_labels"] = torch.tensor([f["word_labels"] + [0.0] * (width - len(f["word_labels"])) for f in features])
        return batch

    # ----- model ------------------------------------------------------------------------------
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Text states z from the truncated encoder."""
        return self.run_encoder(input_ids=input_ids, attention_mask=attention_mask)

    def position_queries(self, length: int) -> torch.Tensor:
        """Start and end queries at every position, the same for every text: (P, 2, H)."""
        table = self.own_positions or position_embedding(self.encoder)
        ids = text_position_ids(self.encoder, length, self.marker_start.device)
        if self.own_positions is not None:
            ids = torch.arange(length, device=ids.device)
        pos = table(ids)
        return torch.stack([pos + self.marker_start, pos + self.marker_end], dim=1)

    def first_layer_queries(self, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, tuple]:
        """``position_queries(length)`` and the first decoder layer's projections of them.

        Both depend on weights only, so without gradients they are computed once (for a power-of-two
        length, sliced) and reused until a weight they depend on changes.
        """
        layer = self.decoder[0]
        if torch.is_grad_enabled():
            qpos = self.position_queries(length).to(dtype)
            return qpos, layer.project(qpos)
        table = self.own_positions or position_embedding(self.encoder)
        key = (dtype, *self._weights_key(table.weight, *layer.norm_q.parameters(), *layer.query.parameters(),
                                         *layer.key.parameters(), *layer.value.parameters()))
        cached = getattr(self, "_query_cache", None)
        if cached is None or cached[0] != key or cached[1].shape[0] < length:
            size = min(max(64, 1 << (length - 1).bit_length()), table.num_embeddings)
            qpos = self.position_queries(max(size, length)).to(dtype)
            cached = (key, qpos, layer.project(qpos))
            self._query_cache = cached
        qpos, projected = cached[1], cached[2]
        return qpos[:length], tuple(t[:length] for t in projected)

    def _weights_key(self, *params: torch.Tensor) -> tuple:
        """What a cache of values computed from ``params`` (and the markers) under the current autocast is keyed by."""
        device = self.marker_start.device.type
        autocast = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        return autocast, tuple((p.data_ptr(), p._version) for p in (self.marker_start, self.marker_end, *params))

    def span_rows_decoder(self) -> SpanRowsModules:
        """The one-layer decoder as :class:`SpanRowsModules` (its position tables computed once per weights and autocast)."""
        table = self.own_positions or position_embedding(self.encoder)
        key = self._weights_key(table.weight, *self.decoder[0].parameters())
        cached = getattr(self, "_span_rows_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, SpanRowsModules(self).eval())
            self._span_rows_cache = cached
        return cached[1]

    def decode_spans(self, z, attention_mask, starts, ends, span_mask=None, fast: bool = True) -> torch.Tensor:
        """Class logits (B, N, labels) of spans with first/last subword positions ``starts``/``ends``.

        Only spans where ``span_mask`` (B, N) is true are computed (padding costs nothing); their
        rows of the result hold the logits, the others zeros.
        """
        B, N = starts.shape
        valid = span_mask if span_mask is not None else torch.ones_like(starts, dtype=torch.bool)
        bi, ni = valid.nonzero(as_tuple=True)
        s_flat, e_flat = starts[bi, ni], ends[bi, ni]
        if fast and (len(self.decoder) == 1 or self._graph_decoder(bi) is not None):
            logits = self.decode_flat(z, attention_mask, bi, s_flat, e_flat)
        else:
            bias = text_bias(attention_mask, z.dtype)
            qpos, projected = self.first_layer_queries(z.shape[1], z.dtype)
            q = None  # (K, 2, H) for the K valid spans
            for k, layer in enumerate(self.decoder):
                mem_k, mem_v = layer.memory(z)
                if k == 0 and fast:
                    q = layer.forward_positions(qpos, bi, s_flat, e_flat, mem_k, mem_v, bias, projected)
                    continue
                if q is None:
                    q = torch.stack([qpos[s_flat, 0], qpos[e_flat, 1]], dim=1)
                padded = q.new_zeros(B, N, 2, q.shape[-1])
                padded[bi, ni] = q
                q = layer(padded, mem_k, mem_v, bias)[bi, ni]
            logits = self.classifier(self.dropout(self.final_norm(q).flatten(-2)))
        out = logits.new_zeros(B, N, logits.shape[-1])
        out[bi, ni] = logits
        return out

    def decode_flat(self, z, attention_mask, batch_idx, starts, ends, filtered: bool = False) -> torch.Tensor:
        """Class logits (K, labels) of K spans given flat: text row ``batch_idx`` (ascending), first/last subword positions
        (the exact first-layer fast path: the ONNX Runtime decoder graph when the runtime has one). ``filtered``: spans a
        span filter kept, decoded in the per-span form whatever the batch (:func:`decoder_form`)."""
        graph = self._graph_decoder(batch_idx)
        if graph is not None:
            return graph(z, attention_mask, batch_idx, starts, ends, filtered)
        if len(self.decoder) > 1:  # deeper decoders attend per text: pad to (texts, spans)
            counts = torch.bincount(batch_idx, minlength=z.shape[0])
            rank = torch.arange(batch_idx.numel(), device=z.device) - (counts.cumsum(0) - counts)[batch_idx]
            mask = torch.zeros(z.shape[0], int(counts.max()) if batch_idx.numel() else 0, dtype=torch.bool, device=z.device)
            mask[batch_idx, rank] = True
            padded = [torch.zeros_like(mask, dtype=torch.long).index_put_((batch_idx, rank), v) for v in (starts, ends)]
            return self.decode_spans(z, attention_mask, *padded, mask)[mask]
        if not torch.is_grad_enabled() and batch_idx.numel() and decoder_form(filtered) == "spans":  # inference
            return self.span_rows_decoder()(z, attention_mask, batch_idx, starts, ends)
        layer = self.decoder[0]
        qpos, projected = self.first_layer_queries(z.shape[1], z.dtype)
        mem_k, mem_v = layer.memory(z)
        q = layer.forward_positions(qpos, batch_idx, starts, ends, mem_k, mem_v, text_bias(attention_mask, z.dtype),
                                    projected)
        return self.classifier(self.dropout(self.final_norm(q).flatten(-2)))

    def _graph_decoder(self, batch_idx: torch.Tensor):
        """The runtime's decoder graph when it has one and it applies (spans to decode, no gradients), else None."""
        graph = getattr(self.runtime, "run_decoder", None)
        return graph if graph is not None and batch_idx.numel() and not torch.is_grad_enabled() else None

    def decoder_graphs(self) -> dict[str, nn.Module] | None:
        """The span decoder as traceable modules for ONNX export, each ``(z, attention_mask, batch_idx, starts, ends) ->
        logits (K, labels)`` (one decoder layer, weight-only parts as constants; :mod:`spandec.models.decoder_graph`):
        ``"spans"`` (per-span rows) and ``"rows"`` (every position's rows); None for deeper decoders (torch decoder)."""
        if len(self.decoder) != 1:
            return None
        return {"spans": SpanRowsGraph(self), "rows": AllRowsGraph(self)}

    def token_logits(self, z: torch.Tensor, word_first: torch.Tensor) -> torch.Tensor:
        """Entity-vs-O logit of each word (at its first subword): (B, W)."""
        return self.token_head(_gather(z, word_first)).squeeze(-1)

    def _head_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The span filter head's weight (H,) and bias (1,) as float32 numpy views of its parameters (CPU), kept while
        the parameters keep their storage (in-place updates show through)."""
        weight, bias = self.token_head.weight, self.token_head.bias
        key = (weight.data_ptr(), bias.data_ptr(), weight.dtype)
        cached = getattr(self, "_head_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, weight.detach()[0].float().numpy(), bias.detach().float().numpy())
            self._head_cache = cached
        return cached[1], cached[2]

    def word_probs(self, z: torch.Tensor, rows: torch.Tensor) -> np.ndarray:
        """Entity probability (float32 numpy) of the words whose first subwords are ``rows`` of ``z`` (B, L, H) flattened
        to (B x L, H): the span filter's input, every window's words at once, decided in float32."""
        if z.device.type == "cpu":  # numpy: a handful of small ops, no torch dispatch per call (the serving path)
            weight, bias = self._head_arrays()
            logits = (z.detach().float().numpy().reshape(-1, z.shape[-1])[rows.numpy()] * weight).sum(-1) + bias
            return 1.0 / (1.0 + np.exp(-logits))
        first = z.reshape(-1, z.shape[-1]).index_select(0, rows).float()
        with torch.autocast(z.device.type, enabled=False):
            return self.token_head(first).squeeze(-1).sigmoid().cpu().numpy()

    def forward(self, input_ids, attention_mask, span_start, span_end, span_mask, word_first, word_mask,
                span_labels=None, word_labels=None, **_) -> dict[str, torch.Tensor]:
        z = self.encode(input_ids, attention_mask)
        logits = self.decode_spans(z, attention_mask, span_start, span_end, span_mask)
        out = {"logits": logits}
        if span_labels is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), span_labels.flatten(), ignore_index=-100)
            if self.token_head is not None and word_labels is not None:
                tl = self.token_logits(z, word_first).float()
                bce = nn.functional.binary_cross_entropy_with_logits(tl, word_labels.float(), reduction="none")
                loss = loss + self.config.token_loss_weight * (bce * word_mask).sum() / word_mask.sum().clamp(min=1)
            out["loss"] = loss
        return out

    # ----- inference ----------------------------------------------------------------------------
    def resolve_threshold(self, threshold: float | None = None) -> float:
        """The span-filter threshold a call uses: the given one (checked) or ``config.threshold``; 0 without a filter."""
        threshold = check_threshold(self.config.threshold if threshold is None else threshold)
        return threshold if self.has_span_filter else 0.0

    #: spans per window and decoder forward at inference: bounds memory and the time between ``pause`` calls
    max_spans_per_forward = 4096

    def score_batch(self, features: Sequence[dict], threshold: float | None = None,
                    decode_all: bool = False, pause=None) -> list["WindowScores"]:
        """Span scores of a batch of windows: the filter applied at ``threshold``, then the decoder.

        The decoder runs on the kept spans, or on every candidate with ``decode_all`` (viewers
        that re-threshold without the model); word probabilities are computed when needed. The batch's spans are
        filtered and decoded as one flat list (:meth:`score_flat`).
        """
        if not features:
            return []
        flat = self.score_flat(features, threshold, decode_all, pause)
        bounds = np.cumsum([0] + [len(f["spans"]) for f in features])
        cut = np.searchsorted(flat.decoded, bounds)  # each window's share of the decoded spans
        words = np.cumsum([0] + [len(f["word_first"]) for f in features])
        return [WindowScores(flat.spans[lo:hi], flat.min_prob[lo:hi], flat.kept[lo:hi], flat.decoded[cut[i]:cut[i + 1]] - lo,
                             flat.probs[cut[i]:cut[i + 1]],
                             None if flat.word_probs is None else flat.word_probs[words[i]:words[i + 1]])
                for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))]

    def score_flat(self, features: Sequence[dict], threshold: float | None = None, decode_all: bool = False,
                   pause=None) -> "BatchScores":
        """:meth:`score_batch`'s work on the batch's spans as one flat list (window-major): the filter's word
        probabilities of every window's words at once, then the decoder on the kept (or every) span, at most
        ``max_spans_per_forward`` x windows spans per decoder call, ``pause()`` called in between."""
        z, mask = self._encode_batch(features)
        return filter_decode(self, features, z, mask, self.resolve_threshold(threshold), decode_all, pause)

    def _encode_batch(self, features: Sequence[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's states (B, L, H) of a batch of windows and its attention mask (B, L)."""
        dev = self.device
        ids = pad([f["input_ids"] for f in features], self.tokenizer.pad_token_id or 0).to(dev)
        mask = length_mask([len(f["input_ids"]) for f in features]).long().to(dev)
        return self.encode(ids, mask), mask

    def score_windows(self, features: Sequence[dict], pause=None,
                      threshold: float | None = None) -> tuple[list[list[Candidate]], PredictStats]:
        return self.score_batches([features], pause=pause, threshold=threshold)[0]

    #: with the span filter on, consecutive encoder batches share one filter and decoder call (a decoder call has a fixed
    #: cost, and the serving benchmark's calls of 8 sentences make 6 batches of 1-2 windows on average) while the group
    #: has at most ``decode_group_windows`` windows and at most ``decode_group_padding`` padded subwords per extra batch
    #: (CoNLL++ test, onnx-int8, 1 thread: a decoder call costs about as much as 50 subwords of keys and values)
    decode_group_windows = 32
    decode_group_padding = 48

    def score_batches(self, batches: Sequence[Sequence[dict]], pause=None,
                      threshold: float | None = None) -> list[tuple[list[list[Candidate]], PredictStats]]:
        """Each batch encoded alone (never padded); with the span filter on, the filter and the decoder then run once
        per group of consecutive batches (:attr:`decode_group_windows`), their states padded to the group's longest and
        the padding masked: keys of padding get no attention weight, so a window's scores do not depend on its group."""
        threshold = self.resolve_threshold(threshold)
        out: list = [([], PredictStats()) for _ in batches]
        todo = [b for b, feats in enumerate(batches) if feats]
        while todo:
            group = [todo.pop(0)]
            while threshold > 0 and todo and self._joins(batches, group, todo[0]):
                group.append(todo.pop(0))
            states = []
            for k, b in enumerate(group):
                states.append(self._encode_batch(batches[b]))
                if pause is not None and (todo or k + 1 < len(group)):
                    pause()
            for b, result in zip(group, score_group(self, [batches[b] for b in group], states, threshold, pause)):
                out[b] = result
        return out

    def _joins(self, batches, group: list[int], candidate: int) -> bool:
        """Whether batch ``candidate`` joins ``group``'s decoder call (the window and padding budgets)."""
        members = [batches[b] for b in (*group, candidate)]
        lengths = [len(feats[0]["input_ids"]) for feats in members]
        padding = sum(len(feats) * (max(lengths) - n) for feats, n in zip(members, lengths))
        return sum(map(len, members)) <= self.decode_group_windows and padding <= self.decode_group_padding * len(group)


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x: (B, L, H), idx: (B, N) -> (B, N, H)."""
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _has(module: nn.Module, name: str) -> bool:
    try:
        module.get_submodule(name)
        return True
    except AttributeError:
        return False
