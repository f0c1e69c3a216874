"""Analytic inference GFLOPs (paper Appendix D / Table 3) and measured FLOP counts.

Notation: S text tokens, M span queries (SpanDec) or span markers (PL-Marker),
H hidden size, F FFN size, L encoder layers, C entity types. A multiply-add is
2 FLOPs; embeddings, LayerNorm, softmax, GELU and biases are ignored.

Encoder layer over n tokens whose attention covers A (query, key) pairs::

    layer(n, A) = 2n(4H^2 + 2HF)       # Q,K,V,O projections + 2-matrix FFN
                + 4AH                   # QK^T and softmax(.)V, 2AH each

(with F = 4H the linear part is the familiar 24nH^2).

* Token classification: ``L * layer(S, S^2) + 2*S*H*num_labels``.
* SpanDec: the first ``L-1`` encoder layers run on the text, then one decoder
  layer runs on the M span queries (two per span: start and end). Each query
  attends to the S text states plus its own span's two queries, so the decoder
  layer is ``layer(M, M*(S+2))``. Its K/V projections of the text memory
  (``4SH^2``) are *not* counted by default (``count_memory_kv``): Table 3 is
  reproduced only without them (with them BERT-base gives 11.65, not 11.5).
  The span head concatenates the two query outputs (2H) and maps them to C+1
  classes: ``2*(M/2)*2H*(C+1)``. ``M`` is the number of queries, i.e. twice
  the number of spans; Table 3 uses M=324 (162 spans).
* SF-SpanDec: same, with only ``kept_fraction`` of the queries decoded, plus a
  token head on the S tokens (``2*S*H*token_head_labels``) used for filtering.
* PL-Marker (packed levitated markers, SpanMarker-style): text and markers form
  one sequence of S+M tokens through all L layers, so every projection/FFN runs
  on S+M tokens, but attention is not dense: text attends to text (S^2 pairs)
  and each marker to the text plus its own start/end pair (M(S+2) pairs)::

      L * layer(S + M, S^2 + M(S+2)) + 2*(M/2)*2H*(C+1)

  Dense (S+M)^2 attention would give 18.1 GFLOPs for MiniLM, far from 15.8.
  With ``marker_max_length`` the markers are packed into ceil(M/len) groups and
  the text is re-encoded with every group.

Table 3 (S=44, M=324) reproduced (paper -> this module):
token classification 1.9/7.5/26.8 -> 1.90/7.55/26.77; SpanDec 2.9/11.5/33.9 ->
2.92/11.55/33.87; PL-Marker 15.8/62.5/222.7 -> 15.94/63.13/223.92 (MiniLM /
BERT-base / RoBERTa-large). The residual PL-Marker gap (<= 1.02 %) is not
explained by any attention-pattern variant tried (it does not scale with H or L).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "EncoderShape",
    "PAPER_ENCODERS",
    "encoder_layer_flops",
    "num_spans",
    "token_classification_gflops",
    "spandec_gflops",
    "sf_spandec_gflops",
    "pl_marker_gflops",
    "count_flops",
    "model_gflops",
]


@dataclass(frozen=True)
class EncoderShape:
    """Shape of a BERT-like encoder (``vocab`` is informational: lookups are free)."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int = 30522

    @classmethod
    def from_hf_config(cls, config: Any) -> "EncoderShape":
        """Build from a ``transformers`` ``PretrainedConfig`` of a BERT-like encoder."""
        return cls(
            layers=int(config.num_hidden_layers),
            hidden=int(config.hidden_size),
            heads=int(config.num_attention_heads),
            ffn=int(config.intermediate_size),
            vocab=int(getattr(config, "vocab_size", 30522) or 30522),
        )


#: Encoders of the paper's Table 9.
PAPER_ENCODERS: dict[str, EncoderShape] = {
    "minilm": EncoderShape(layers=12, hidden=384, heads=12, ffn=1536, vocab=30522),
    "bert-base": EncoderShape(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522),
    "roberta-large": EncoderShape(layers=24, hidden=1024, heads=16, ffn=4096, vocab=50265),
}


def encoder_layer_flops(enc: EncoderShape, n: float, attn_pairs: float) -> float:
    """FLOPs of one transformer layer over ``n`` tokens with ``attn_pairs`` (query, key) pairs."""
    h, f = enc.hidden, enc.ffn
    return 2.0 * n * (4 * h * h + 2 * h * f) + 4.0 * attn_pairs * h


def num_spans(S: int, max_span: int = 8) -> int:
    """Number of candidate spans of length 1..``max_span`` in ``S`` tokens."""
    k = min(max_span, S)
    return S * k - k * (k - 1) // 2 if S > 0 else 0


def _span_head_flops(enc: EncoderShape, queries: float, num_types: int) -> float:
    # (queries/2) spans, each a (2H -> C+1) linear.
    return 2.0 * (queries / 2) * (2 * enc.hidden) * (num_types + 1)


def token_classification_gflops(enc: EncoderShape, S: int, num_labels: int = 9) -> float:
    """GFLOPs of an encoder + linear token classifier on one ``S``-token sentence."""
    flops = enc.layers * encoder_layer_flops(enc, S, S * S) + 2.0 * S * enc.hidden * num_labels
    return flops / 1e9


def spandec_gflops(
    enc: EncoderShape,
    S: int,
    M: int,
    num_types: int = 4,
    encoder_layers: int | None = None,
    decoder_layers: int = 1,
    kept_fraction: float = 1.0,
    count_memory_kv: bool = False,
) -> float:
    """GFLOPs of SpanDec: ``encoder_layers`` (default L-1) on the text + span decoder on M queries.

    ``kept_fraction`` is the fraction of queries decoded (SF-SpanDec filtering).
    """
    if not 0.0 <= kept_fraction <= 1.0:
        raise ValueError(f"kept_fraction must be in [0, 1], got {kept_fraction}")
    n_enc = enc.layers - 1 if encoder_layers is None else encoder_layers
    q = M * kept_fraction
    flops = n_enc * encoder_layer_flops(enc, S, S * S)
    per_dec = encoder_layer_flops(enc, q, q * (S + 2))
    if count_memory_kv:
        per_dec += 4.0 * S * enc.hidden * enc.hidden
    flops += decoder_layers * per_dec + _span_head_flops(enc, q, num_types)
    return flops / 1e9


def sf_spandec_gflops(
    enc: EncoderShape,
    S: int,
    M: int,
    kept_fraction: float,
    num_types: int = 4,
    token_head_labels: int | None = None,
    **kwargs: Any,
) -> float:
    """GFLOPs of SF-SpanDec: SpanDec on the kept queries + the token (filter) head.

    ``token_head_labels`` defaults to BIO tags, ``2*num_types + 1``.
    """
    labels = 2 * num_types + 1 if token_head_labels is None else token_head_labels
    head = 2.0 * S * enc.hidden * labels / 1e9
    return spandec_gflops(enc, S, M, num_types=num_types, kept_fraction=kept_fraction, **kwargs) + head


def pl_marker_gflops(
    enc: EncoderShape,
    S: int,
    M: int,
    marker_max_length: int | None = None,
    num_types: int = 4,
) -> float:
    """GFLOPs of PL-Marker with ``M`` packed levitated markers (two per span).

    With ``marker_max_length`` markers are split into groups and the text is
    re-encoded once per group.
    """
    if marker_max_length is None or marker_max_length >= M or M == 0:
        groups = [M]
    else:
        n_groups = math.ceil(M / marker_max_length)
        groups = [marker_max_length] * (n_groups - 1) + [M - marker_max_length * (n_groups - 1)]
    flops = sum(
        enc.layers * encoder_layer_flops(enc, S + m, S * S + m * (S + 2)) for m in groups
    )
    flops += _span_head_flops(enc, M, num_types)
    return flops / 1e9


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Run ``fn(*args, **kwargs)`` under ``FlopCounterMode`` (no grad) and return total FLOPs."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def model_gflops(model: Any, S: float, M: float, kept: float = 1.0) -> float:
    """Appendix D GFLOPs of a built ``model``'s architecture at S tokens and M span queries (``kept``: the share of
    queries a span filter keeps), as its class counts them (``model.gflops``, which calls the formulas above);
    ``TypeError`` for a model that does not say."""
    count = getattr(model, "gflops", None)
    if not callable(count):
        raise TypeError(f"{type(model).__name__} does not say how its FLOPs are counted (no gflops method)")
    return count(S, M, kept)
