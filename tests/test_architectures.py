"""PL-Marker packing and the SpanDec decoder against naive references (tiny random encoder)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spandec.models.encoder import text_position_ids
from spandec.models.spandec import DecoderLayer

from model_helpers import make

pytestmark = pytest.mark.usefixtures("one_thread")


# =============================================================================================
# PL-Marker
# =============================================================================================

PLM_SENTENCES = [
    "Jean-Luc Moreau painted the Alps near Grindelwald .".split(),
    "Omar Haddad flew to Cairo".split(),
]


def plm_features(model):
    return [model.window_features(w) for words in PLM_SENTENCES for w in model.windows(words)]


def plm_inputs(batch):
    return {k: batch[k] for k in ("input_ids", "text_mask", "span_start", "span_end", "span_mask")}


def test_pl_marker_text_states_ignore_markers(tiny_encoder) -> None:
    model = make("pl-marker", tiny_encoder, marker_max_length=8).eval()
    feats = plm_features(model)
    batch = model.collate(feats)
    assert batch["input_ids"].shape[0] > len(feats)  # several packed rows per sentence
    L, K = batch["input_ids"].shape[1], batch["span_start"].shape[1]
    with torch.no_grad():
        before = model.hidden_states(**plm_inputs(batch))
        # a random change (a constant shift would vanish in the embedding LayerNorm)
        model.marker_start.add_(torch.randn_like(model.marker_start))
        model.marker_end.add_(torch.randn_like(model.marker_end))
        after = model.hidden_states(**plm_inputs(batch))
    text = batch["text_mask"]
    assert torch.allclose(before[:, :L][text], after[:, :L][text], atol=1e-6)
    spans = batch["span_mask"]
    start_change = (before[:, L : L + K] - after[:, L : L + K]).abs().amax(-1)[spans]
    end_change = (before[:, L + K :] - after[:, L + K :]).abs().amax(-1)[spans]
    assert start_change.min() > 1e-2 and end_change.min() > 1e-2


def test_pl_marker_text_states_equal_plain_encoder(tiny_encoder) -> None:
    """Text never sees markers or padding: each row's text states are the encoder's on the text alone."""
    model = make("pl-marker", tiny_encoder, marker_max_length=6).eval()
    feats = plm_features(model)
    batch = model.collate(feats)
    L = batch["input_ids"].shape[1]
    with torch.no_grad():
        h = model.hidden_states(**plm_inputs(batch))
        for r, f in enumerate(batch["row_feature"].tolist()):
            ids = torch.tensor([feats[f]["input_ids"]])
            plain = model.encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
            assert torch.allclose(h[r, : ids.shape[1]], plain, atol=1e-5)
    assert L > min(len(f["input_ids"]) for f in feats)  # the shorter sentence's rows were padded


def test_pl_marker_position_ids(tiny_encoder) -> None:
    model = make("pl-marker", tiny_encoder, marker_max_length=10).eval()
    windows = [w for words in PLM_SENTENCES for w in model.windows(words)]
    feats = [model.window_features(w) for w in windows]
    assert any(f != l for w in windows for f, l in zip(w.word_first, w.word_last))  # multi-subword words
    batch = model.collate(feats)
    _, positions, _ = model.build_inputs(**plm_inputs(batch))
    L, K = batch["input_ids"].shape[1], batch["span_start"].shape[1]
    text_pos = text_position_ids(model.encoder, L, torch.device("cpu"))
    assert positions[:, :L].tolist() == [text_pos.tolist()] * positions.shape[0]
    seen = [0] * len(feats)
    for r, f in enumerate(batch["row_feature"].tolist()):
        n = int(batch["span_mask"][r].sum())
        for k in range(n):
            s, e = feats[f]["spans"][seen[f] + k]
            assert positions[r, L + k] == text_pos[windows[f].word_first[s]]
            assert positions[r, L + K + k] == text_pos[windows[f].word_last[e - 1]]
        seen[f] += n
    assert seen == [len(f["spans"]) for f in feats]


def plm_span_logits(model, feats) -> list[torch.Tensor]:
    """Per feature: logits of its spans in order, however they were packed into rows."""
    batch = model.collate(feats)
    with torch.no_grad():
        logits = model(**batch)["logits"]
    per = [[] for _ in feats]
    for r, f in enumerate(batch["row_feature"].tolist()):
        per[f].append(logits[r, : int(batch["span_mask"][r].sum())])
    return [torch.cat(p) for p in per]


def test_pl_marker_packing_does_not_matter(tiny_encoder) -> None:
    """A span's markers (and the text) do not depend on which other spans share the row."""
    model = make("pl-marker", tiny_encoder).eval()
    feats = plm_features(model)
    reference = plm_span_logits(model, feats)  # all spans of a sentence in one row
    assert all(len(r) == len(f["spans"]) for r, f in zip(reference, feats))
    for markers in (2, 6):
        model.config.marker_max_length = markers
        for got, want in zip(plm_span_logits(model, feats), reference):
            assert torch.allclose(got, want, atol=1e-5)
    # one sentence alone vs. batched with (and padded to) the other
    model.config.marker_max_length = 128
    for f, want in zip(feats, reference):
        assert torch.allclose(plm_span_logits(model, [f])[0], want, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_encoders(tmp_path_factory, tiny_encoder) -> dict:
    """Folders of tiny BERT, RoBERTa and ELECTRA (embedding size != hidden: an embeddings projection) encoders
    with the default tokenizer, and a DistilBERT one (layers text once cannot run)."""
    from transformers import AutoModel, DistilBertConfig, ElectraConfig, RobertaConfig

    from spandec.models.encoder import load_tokenizer

    common = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=130)
    configs = {"roberta": RobertaConfig(pad_token_id=1, **common), "electra": ElectraConfig(embedding_size=16, **common),
               "distilbert": DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64)}
    folders = {"bert": tiny_encoder}
    for name, config in configs.items():
        folders[name] = str(tmp_path_factory.mktemp(f"tiny-{name}"))
        torch.manual_seed(0)
        AutoModel.from_config(config).save_pretrained(folders[name])
        load_tokenizer("default").save_pretrained(folders[name])
    return folders


def plm_text_once_batch(model):
    """Texts of different lengths, each with its spans in several packed groups, with labels."""
    sentences = PLM_SENTENCES + ["Paris".split(), "The Rhine flows past Basel and Strasbourg to Rotterdam".split()]
    feats = [model.window_features(w) for words in sentences for w in model.windows(words)]
    for f in feats:
        f["span_labels"] = [(3 * i) % len(model.id2label) for i in range(len(f["spans"]))]
    return model.collate(feats)


@pytest.mark.parametrize("family", ["bert", "roberta", "electra"])
def test_pl_marker_text_once_equals_packed(tiny_encoders, family) -> None:
    """Text once computes what the packed rows compute: logits of every real span, loss and every gradient."""
    model = make("pl-marker", tiny_encoders[family], marker_max_length=6).eval()
    assert model.uses_text_once()
    batch = plm_text_once_batch(model)
    rows_per_text = torch.bincount(batch["row_feature"])
    assert rows_per_text.max() > 2 and len(set(batch["text_mask"].sum(1).tolist())) > 2  # groups, padded texts
    results = []
    for text_once in (True, False):
        model.text_once = text_once
        model.zero_grad()
        out = model(**batch)
        out["loss"].backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((out["logits"].detach()[batch["span_mask"]], out["loss"].item(), grads))
    (fast, fast_loss, fast_grads), (packed, packed_loss, packed_grads) = results
    assert torch.allclose(fast, packed, atol=1e-5)
    assert fast_loss == pytest.approx(packed_loss, abs=1e-5)
    assert fast_grads.keys() == packed_grads.keys() and "marker_start" in fast_grads
    for name, grad in packed_grads.items():
        assert torch.allclose(fast_grads[name], grad, atol=1e-5), name


def test_pl_marker_text_once_dedupes_texts(tiny_encoder) -> None:
    """Rows of one feature share one text pass; without row_feature every row is its own text, same logits."""
    model = make("pl-marker", tiny_encoder, marker_max_length=4).eval()
    batch = plm_text_once_batch(model)
    with torch.no_grad():
        shared = model(**batch)["logits"]
        alone = model(**{k: v for k, v in batch.items() if k != "row_feature"})["logits"]
    assert torch.allclose(shared[batch["span_mask"]], alone[batch["span_mask"]], atol=1e-6)
    assert shared[~batch["span_mask"]].eq(model.classifier.bias).all()  # padded slots: zero states


def test_pl_marker_packed_fallback(tiny_encoders) -> None:
    """An encoder whose layers text once cannot run (DistilBERT) trains and predicts through packed rows."""
    model = make("pl-marker", tiny_encoders["distilbert"], marker_max_length=6).eval()
    assert not model.uses_text_once()
    batch = plm_text_once_batch(model)
    out = model(**batch)
    out["loss"].backward()
    assert model.marker_start.grad.abs().sum() > 0
    assert len(model.predict([PLM_SENTENCES[0]])) == 1


# =============================================================================================
# SpanDec decoder against a naive per-span implementation
# =============================================================================================

def _layer_norm(x, norm: nn.LayerNorm):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _linear(x, layer: nn.Linear):
    return x @ layer.weight.T + layer.bias


def _gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def naive_span_logits(model, z: torch.Tensor, i: int, j: int) -> torch.Tensor:
    """Logits of the span whose first/last subwords are ``i``/``j``; ``z``: (L, H) unpadded text states."""
    pos = model.encoder.embeddings.position_embeddings.weight
    q = torch.stack([model.marker_start + pos[i], model.marker_end + pos[j]])  # (2, H)
    for layer in model.decoder:
        h, d = layer.heads, layer.head_dim
        qn = _layer_norm(q, layer.norm_q)
        memory = torch.cat([qn, _layer_norm(z, layer.norm_mem)])  # [q_i, q_j, z_1..z_L]
        Q = _linear(qn, layer.query).view(2, h, d).transpose(0, 1)  # (h, 2, d)
        Km = _linear(memory, layer.key).view(-1, h, d).transpose(0, 1)  # (h, 2+L, d)
        Vm = _linear(memory, layer.value).view(-1, h, d).transpose(0, 1)
        weights = torch.softmax(Q @ Km.transpose(1, 2) / math.sqrt(d), dim=-1)  # (h, 2, 2+L)
        attended = (weights @ Vm).transpose(0, 1).reshape(2, h * d)
        q = q + _linear(attended, layer.out)
        q = q + _linear(_gelu(_linear(_layer_norm(q, layer.norm_mlp), layer.fc1)), layer.fc2)
    rep = _layer_norm(q, model.final_norm).reshape(-1)  # concat [start; end]
    return _linear(rep, model.classifier)


def test_spandec_decoder_matches_naive_reference(tiny_encoder, monkeypatch) -> None:
    model = make("spandec", tiny_encoder, decoder_layers=2, max_span_words=3).eval()
    with torch.no_grad():  # make the two layers, the norms and the markers all different
        for name, p in model.named_parameters():
            if not name.startswith("encoder."):
                p.add_(torch.randn_like(p) * 0.2)
    windows = [model.windows(words)[0] for words in PLM_SENTENCES]
    feats = [model.window_features(w) for w in windows]
    batch = model.collate(feats)
    with torch.no_grad():
        z = model.encode(batch["input_ids"], batch["attention_mask"])
        fast = model.decode_spans(z, batch["attention_mask"], batch["span_start"], batch["span_end"])
        general = model.decode_spans(z, batch["attention_mask"], batch["span_start"], batch["span_end"], fast=False)
        lengths = [len(f["input_ids"]) for f in feats]
        assert lengths[0] != lengths[1]
        checked = 0
        for b, (win, f) in enumerate(zip(windows, feats)):
            for n, (s, e) in enumerate(f["spans"]):
                want = naive_span_logits(model, z[b, : lengths[b]], win.word_first[s], win.word_last[e - 1])
                assert torch.allclose(fast[b, n], want, atol=1e-5), (b, s, e)
                assert torch.allclose(general[b, n], want, atol=1e-5), (b, s, e)
                checked += 1
    assert checked == sum(len(f["spans"]) for f in feats) > 20
    assert want.abs().max() > 0.1  # not a degenerate all-zero comparison
    # a few spans only (as after the span filter): the dense and the sparse first-layer paths, same logits
    sparse = torch.zeros_like(batch["span_mask"])
    sparse[0, ::9] = True
    sparse[1, 3] = True
    layer = model.decoder[0]
    B, L = batch["input_ids"].shape
    rows = 2 * int(sparse.sum())
    assert not layer.use_sparse(rows, B, L, L)  # small: dense by default
    with torch.no_grad():
        few_dense = model.decode_spans(z, batch["attention_mask"], batch["span_start"], batch["span_end"], sparse)
        monkeypatch.setattr(DecoderLayer, "dense_limit", 0)
        assert layer.use_sparse(rows, B, L, L) and not layer.use_sparse(2 * B * L, B, L, L)
        few = model.decode_spans(z, batch["attention_mask"], batch["span_start"], batch["span_end"], sparse)
    assert rows > 4
    for got in (few, few_dense):
        assert torch.allclose(got[sparse], fast[sparse], atol=1e-5)
        assert got[~sparse].abs().max() == 0


# =============================================================================================
# Bounded passes: PL-Marker marker groups and SpanDec spans per forward, with pauses in between
# =============================================================================================

@pytest.mark.parametrize("strategy,attribute", [("pl-marker", "max_spans_per_forward"),
                                                ("pl-marker packed", "max_rows_per_forward"),
                                                ("sf-spandec", "max_spans_per_forward")])
def test_bounded_passes_give_the_same_scores(tiny_encoder, monkeypatch, strategy, attribute) -> None:
    """Splitting a long text's work into small forward passes changes nothing but the pauses between them."""
    words = " ".join(" ".join(s) for s in PLM_SENTENCES * 3).split()
    packed = strategy.endswith("packed")
    strategy = strategy.split()[0]
    model = make(strategy, tiny_encoder, marker_max_length=4) if strategy == "pl-marker" else make(strategy, tiny_encoder)
    model.eval()
    if strategy == "pl-marker":
        model.text_once = not packed
    options = {"threshold": 0.0} if strategy == "sf-spandec" else {}
    whole = model.predict([words], flat=False, **options)
    pauses = []
    monkeypatch.setattr(type(model), attribute, 3)
    split = model.predict_with_stats([words], flat=False, pause=lambda: pauses.append(1), **options).entities
    assert len(pauses) > 5 and len(whole[0]) > 3
    assert [(e["word_start_index"], e["word_end_index"], e["label"]) for e in split[0]] == \
        [(e["word_start_index"], e["word_end_index"], e["label"]) for e in whole[0]]
    assert [e["score"] for e in split[0]] == pytest.approx([e["score"] for e in whole[0]], abs=1e-5)
