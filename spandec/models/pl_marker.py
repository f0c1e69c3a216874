"""PL-Marker with packed levitated markers, as the SpanMarker library builds it.

Each training/inference row is the text followed by the start markers and then the
end markers of a group of spans. A start (end) marker has the position id of its
span's first (last) subword. Text attends only to text; each marker attends to the
text, itself and its partner marker. A span is represented by the concatenation of
its two marker states, scored by a linear layer over the types plus O. Spans are
packed in groups of at most ``marker_max_length`` markers, the text re-encoded for
each group; rows are padded only to the longest row in the batch.

Text once (the default where the encoder allows, see :func:`text_once_supported`): since the text never
sees markers, its states are the same in every group, and each marker pair's states depend only on that
layer's text states and the pair itself. So each layer runs every distinct text once (self-attention over
its own tokens) and every real marker of the batch once, attending over [its text's keys and values, its
own start and end marker] with the same weights, then the same output, intermediate and LayerNorm
sublayers. The result is the packed rows' result (equal to float rounding; padded span slots get zero
states) without re-encoding the text per group or dense (text + markers)^2 attention. The packed path
stays for encoders whose layers this cannot run (and answers ``text_once = False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..flops import EncoderShape, pl_marker_gflops
from .encoder import layer_list, text_position_ids
from .base import NERConfig, each_batch, length_mask, pad
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
    onnx_parts = ()
    onnx_refusal = "its encoder takes inputs_embeds, position ids and 4-D attention masks per packed row"
    cpu_gflops_per_second = 33.0  # a 10,000-character text: 90 s, ~3,000 GFLOPs

    def __init__(self, config: PLMarkerConfig, encoder: nn.Module, tokenizer, removed_layers=()):
        super().__init__(config, encoder, tokenizer)
        if config.marker_max_length < 2 or config.marker_max_length % 2:
            raise ValueError("marker_max_length must be an even number >= 2")
        hidden = encoder.config.hidden_size
        word_emb = encoder.get_input_embeddings().weight.detach()
        # markers live in the word-embedding space (ELECTRA-small-like encoders project it up to hidden)
        self.marker_start = nn.Parameter(word_emb.mean(0).clone() + torch.randn(word_emb.shape[1]) * 0.02)
        self.marker_end = nn.Parameter(word_emb.mean(0).clone() + torch.randn(word_emb.shape[1]) * 0.02)
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

    #: use the text-once path wherever :meth:`uses_text_once` allows (False: always the packed rows)
    text_once = True

    def uses_text_once(self) -> bool:
        """Whether forward runs text once: asked, the encoder's layers supported, and its runtime runs torch modules."""
        return self.text_once and self.runtime.runs_modules and text_once_supported(self.encoder)

    def marker_states(self, input_ids, text_mask, span_start, span_end, span_mask, row_feature=None) -> torch.Tensor:
        """Text-once path: the [start, end] marker states of every span slot, (rows, K, 2H), zero on padded slots.
        ``row_feature``: the feature (text) of each row, rows of one feature holding the same text (default: one per row)."""
        rows, L = input_ids.shape
        K, device = span_start.shape[1], input_ids.device
        if row_feature is None:
            row_feature = torch.arange(rows, device=device)
        feats, text_of_row = torch.unique(row_feature, return_inverse=True)
        B = feats.numel()
        first_row = torch.full((B,), rows, device=device).scatter_reduce(0, text_of_row, torch.arange(rows, device=device), "amin")
        r, k = span_mask.nonzero(as_tuple=True)  # real spans, row-major
        text = text_of_row[r]
        by_text = [(text == b).nonzero(as_tuple=True)[0] for b in range(B)]  # each text's spans, for every layer
        embeddings = self.encoder.embeddings
        dtype = embeddings.word_embeddings.weight.dtype
        text_pos = text_position_ids(self.encoder, L, device)
        x = embeddings(input_ids=input_ids[first_row], position_ids=text_pos.expand(B, -1))
        pos = torch.stack([text_pos[span_start[r, k]], text_pos[span_end[r, k]]], dim=1)  # (N, 2)
        marks = torch.stack([self.marker_start, self.marker_end]).to(dtype).expand(pos.shape[0], -1, -1)
        m = embeddings(inputs_embeds=marks.reshape(1, -1, marks.shape[-1]), position_ids=pos.reshape(1, -1))
        project = getattr(self.encoder, "embeddings_project", None)
        if project is not None:  # ELECTRA with embedding_size != hidden_size
            x, m = project(x), project(m)
        m = m.view(pos.shape[0], 2, -1)
        for layer in layer_list(self.encoder):
            x, m = text_once_layer(layer, x, m, text_mask[first_row], by_text)
        out = m.new_zeros(rows, K, 2 * m.shape[-1])
        out[r, k] = m.flatten(1)
        return out.float() if out.dtype != torch.float32 else out

    def forward(self, input_ids, text_mask, span_start, span_end, span_mask, span_labels=None, row_feature=None, **_):
        if self.uses_text_once():
            rep = self.marker_states(input_ids, text_mask, span_start, span_end, span_mask, row_feature)
        else:
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
    #: text-once path: spans per forward at inference (its memory grows with spans x text length, not (text + markers)^2)
    max_spans_per_forward = 2048

    def gflops(self, S: float, M: float, kept: float = 1.0) -> float:
        """The encoder over the text and M markers, the text re-encoded once per marker group."""
        return pl_marker_gflops(EncoderShape.from_hf_config(self.encoder.config), S, M,
                                marker_max_length=self.config.marker_max_length, num_types=len(self.config.labels))

    def score_windows(self, features: Sequence[dict], pause=None) -> tuple[list, PredictStats]:
        batch = {k: v.to(self.device) for k, v in self.collate(features).items()}
        rows, K = batch["input_ids"].shape[0], batch["span_start"].shape[1]
        step = max(1, self.max_spans_per_forward // max(K, 1)) if self.uses_text_once() else self.max_rows_per_forward
        probs = torch.cat(each_batch(
            range(0, rows, step),
            lambda r: self.forward(**{k: v[r : r + step] for k, v in batch.items()})["logits"].float().softmax(-1).cpu(),
            pause))
        n = [len(f["spans"]) for f in features]
        per_feature: list[list[torch.Tensor]] = [[] for _ in features]
        for r, i in enumerate(batch["row_feature"].tolist()):
            per_feature[i].append(probs[r, : int(batch["span_mask"][r].sum())])
        return [
            self.candidates_from_probs(f["spans"], torch.cat(p) if p else torch.zeros(0, len(self.id2label)))
            for f, p in zip(features, per_feature)
        ], PredictStats(sum(n), sum(n))


#: encoder families whose layers are post-LN BERT layers (attention.self.query/key/value, attention.output,
#: intermediate, output) with absolute positions, which :func:`text_once_layer` runs exactly
TEXT_ONCE_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")


def text_once_supported(encoder: nn.Module) -> bool:
    """Whether :func:`text_once_layer` can run ``encoder``'s layers (else PL-Marker uses packed rows)."""
    config = encoder.config
    if config.model_type not in TEXT_ONCE_TYPES or getattr(config, "is_decoder", False) \
            or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return False
    if not isinstance(getattr(getattr(encoder, "embeddings", None), "word_embeddings", None), nn.Embedding):
        return False
    try:
        layers = layer_list(encoder)
    except ValueError:
        return False
    parts = {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output",
             "intermediate", "output"}
    return all(parts <= {name for name, _ in layer.named_modules()} for layer in layers) and \
        all(hasattr(layer.attention.self, "attention_head_size") for layer in layers)


def text_once_layer(layer: nn.Module, x: torch.Tensor, m: torch.Tensor, text_mask: torch.Tensor,
                    by_text: list[torch.Tensor]) -> tuple:
    """One BERT layer, text once. x: (B, L, H) text states; m: (N, 2, H) start/end marker states of N spans;
    text_mask: (B, L); by_text: the indices (into N) of each text's spans."""
    att = layer.attention.self
    h, d = att.num_attention_heads, att.attention_head_size
    B, L, _ = x.shape
    N = m.shape[0]
    flat = torch.cat([x.flatten(0, 1), m.flatten(0, 1)])  # one pass of every linear over text and markers
    q, k, v = (proj(flat).view(-1, h, d) for proj in (att.query, att.key, att.value))
    p = att.dropout.p if att.training else 0.0
    kt, vt = (t[: B * L].view(B, L, h, d).transpose(1, 2) for t in (k, v))  # (B, h, L, d)
    qt = q[: B * L].view(B, L, h, d).transpose(1, 2)
    ctx_t = nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=text_mask[:, None, None, :].bool(),
                                                       dropout_p=p, scale=d ** -0.5)
    qm, km, vm = (t[B * L :].view(N, 2, h, d) for t in (q, k, v))
    ctx_m = _marker_attention(qm, km, vm, kt, vt, text_mask, by_text, p)
    ctx = torch.cat([ctx_t.transpose(1, 2).flatten(0, 1).flatten(1), ctx_m.flatten(0, 1).flatten(1)])
    out = layer.attention.output(ctx, flat)
    out = layer.output(layer.intermediate(out), out)
    return out[: B * L].view(B, L, -1), out[B * L :].view(N, 2, -1)


def _marker_attention(qm, km, vm, kt, vt, text_mask, by_text: list[torch.Tensor], p: float) -> torch.Tensor:
    """Each marker over [its text, its start marker, its end marker]: one softmax over L + 2 logits.
    qm/km/vm: (N, 2, h, d); kt/vt: (B, h, L, d). One matmul per text over its own spans only, and the pair terms
    elementwise: no product's shape depends on the other texts of the batch, so a text's numbers are the same alone and
    in any batch (BLAS sums differently for other shapes: 1e-7 at fp32, which int8's rounding made 0.004 in scores)."""
    N, _, h, d = qm.shape
    scale = d ** -0.5
    lp = (qm.float()[:, :, None] * km.float()[:, None]).sum(-1).permute(0, 1, 3, 2) * scale  # (N, 2, h, 2): marker over pair
    ctx = qm.new_empty(N, 2, h, d)
    for b, rows in enumerate(by_text):
        if not len(rows):
            continue
        q = qm[rows].permute(2, 0, 1, 3).reshape(h, -1, d)  # (h, 2n, d), the text's spans in row order
        lt = (q @ kt[b].transpose(-1, -2)).float() * scale  # (h, 2n, L)
        lt = lt.masked_fill(~text_mask[b].bool()[None, None, :], torch.finfo(torch.float32).min)
        pair = lp[rows].permute(2, 0, 1, 3).reshape(h, -1, 2)
        weights = torch.cat([lt, pair], dim=-1).softmax(-1)
        weights = nn.functional.dropout(weights, p, training=p > 0).to(vt.dtype)
        c = (weights[..., :-2] @ vt[b]).view(h, -1, 2, d).permute(1, 2, 0, 3)  # (n, 2, h, d)
        wp = weights[..., -2:].view(h, -1, 2, 2).permute(1, 2, 0, 3)  # (n, 2, h, 2)
        v = vm[rows]
        ctx[rows] = c + wp[..., 0, None] * v[:, None, 0] + wp[..., 1, None] * v[:, None, 1]
    return ctx
