"""Tests of the four NER models on the tiny random encoder (no downloads, no benchmark data).

The module trains every strategy once on ``data/fixtures/overfit.conll`` (20 sentences,
dropout off, single thread) and reuses those models for the checks that need a model whose
predictions are not noise: overfitting, save/load, predict(), the SF-SpanDec threshold.
The windows test memorizes its own long text (see there).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn

import spandec
from spandec.data import Sentence, spans_to_tags
from spandec.encoder import text_position_ids
from spandec.evaluation import evaluate
from spandec.modeling_base import NERModel
from spandec.spans import Candidate, Document, bio_to_candidates, decode, decode_flat, enumerate_spans, make_windows
from spandec.training import TrainingArgs, train

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
OVERFIT = FIXTURES / "overfit.conll"
LABELS = ["LOC", "MISC", "ORG", "PER"]
STRATEGIES = ("token", "pl-marker", "spandec", "sf-spandec")
SPANMARKER_KEYS = {"span", "label", "score", "char_start_index", "char_end_index", "word_start_index", "word_end_index"}

# Model settings: short spans (the fixture's longest mention has 4 words), small windows
# (22 subwords; every fixture sentence fits in one, a few joined sentences need several).
MODEL_KW = {"max_span_words": 4, "window_subwords": 24, "window_context_words": 4}
# Epochs per strategy at lr 5e-3 (no 10x for new weights: the random encoder must learn the most;
# dropout off, which in a 32-wide model slows memorizing a lot).
# The span models learn slower than token classification: from a random encoder they must first
# learn to attend to their span's positions; SF-SpanDec also shares the encoder with its token loss.
EPOCHS = {"token": 15, "pl-marker": 50, "spandec": 60, "sf-spandec": 80}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run much faster on one thread, especially next to other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def overfit_data():
    return spandec.read_conll(OVERFIT)


def make(strategy: str, encoder: str, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return spandec.new_model(strategy, LABELS, encoder, **kwargs)


def no_dropout(model):
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


@pytest.fixture(scope="module")
def trained(tiny_encoder, overfit_data, tmp_path_factory):
    """``trained(strategy)``: that strategy overfitted on the 20 fixture sentences (trained once per module)."""
    cache: dict[str, NERModel] = {}

    def get(strategy: str) -> NERModel:
        if strategy not in cache:
            model = no_dropout(make(strategy, tiny_encoder, **MODEL_KW))
            args = TrainingArgs(
                output_dir=str(tmp_path_factory.mktemp(f"overfit-{strategy}")), epochs=EPOCHS[strategy],
                batch_size=4, per_device_batch_size=4, learning_rate=5e-3, new_weights_lr_factor=1.0,
                progress=False,
            )
            train(model, overfit_data, None, args)
            cache[strategy] = model.eval()
        return cache[strategy]

    return get


def entity_set(preds) -> list[tuple[int, int, str]]:
    return [(e["word_start_index"], e["word_end_index"], e["label"]) for e in preds]


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


def test_spandec_decoder_matches_naive_reference(tiny_encoder) -> None:
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


# =============================================================================================
# SF-SpanDec threshold
# =============================================================================================

def test_sf_threshold_prunes_spans(trained, overfit_data) -> None:
    model = trained("sf-spandec")
    inputs = [s.words for s in overfit_data]
    # thresholds between the words' entity probabilities, so that each step drops some words
    probs = sorted({round(p, 4) for s in inputs for p in spandec.analyze(model, s).token_probs})
    assert len(probs) > 20
    cuts = [(probs[k] + probs[k + 1]) / 2 for k in (len(probs) // 4, len(probs) // 2, 3 * len(probs) // 4)]
    stats = []
    for threshold in [0.0] + cuts:
        model.predict(inputs, threshold=threshold)
        stats.append(dict(model.last_stats_total))
    candidates = [s["candidates"] for s in stats]
    decoded = [s["decoded"] for s in stats]
    assert len(set(candidates)) == 1 and candidates[0] > 0
    assert decoded[0] == candidates[0]  # threshold 0 decodes every candidate
    assert all(a > b for a, b in zip(decoded, decoded[1:])), decoded
    model.predict(inputs, threshold=0.5)
    at_half = model.last_stats_total["decoded"]
    model.predict(inputs)  # without a threshold: the config's (0.5)
    assert model.config.threshold == 0.5 and model.last_stats_total["decoded"] == at_half < candidates[0]


def test_sf_threshold_zero_equals_spandec(trained, tiny_encoder, overfit_data) -> None:
    sf = trained("sf-spandec")
    plain = make("spandec", tiny_encoder, **MODEL_KW).eval()
    state = {k: v for k, v in sf.state_dict().items() if not k.startswith("token_head.")}
    plain.load_state_dict(state)
    docs = [Document.from_input(s.words) for s in overfit_data]
    got = sf.predict_candidates(docs, threshold=0.0)
    want = plain.predict_candidates(docs)
    assert sum(len(c) for c in want) >= 41  # the trained model finds (at least) the gold mentions
    for g, w in zip(got, want):
        assert [(c.start, c.end, c.label) for c in g] == [(c.start, c.end, c.label) for c in w]
        assert [c.score for c in g] == pytest.approx([c.score for c in w], abs=1e-6)


def test_sf_threshold_out_of_range(trained) -> None:
    model = trained("sf-spandec")
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            model.predict("Maria Lopez moved to Buenos Aires .", threshold=bad)
        with pytest.raises(ValueError, match="threshold"):
            spandec.analyze(model, "Maria Lopez moved to Buenos Aires .", threshold=bad)


# =============================================================================================
# Decoding rules
# =============================================================================================

def test_decode_flat_greedy_by_score() -> None:
    cands = [
        Candidate(0, 2, "PER", 0.6),
        Candidate(1, 3, "ORG", 0.9),  # best: kept, blocks both neighbours
        Candidate(2, 4, "LOC", 0.8),
        Candidate(4, 5, "LOC", 0.5),
        Candidate(3, 4, "MISC", 0.4),
        Candidate(0, 1, "PER", 0.3),
    ]
    got = decode_flat(cands)
    assert got == [Candidate(0, 1, "PER", 0.3), Candidate(1, 3, "ORG", 0.9),
                   Candidate(3, 4, "MISC", 0.4), Candidate(4, 5, "LOC", 0.5)]
    used = [k for c in got for k in range(c.start, c.end)]
    assert len(used) == len(set(used))
    # the same whatever the input order
    for seed in range(5):
        shuffled = cands[:]
        random.Random(seed).shuffle(shuffled)
        assert decode_flat(shuffled) == got
    assert decode(cands) == got
    assert decode([]) == []


def test_decode_nested_and_min_score() -> None:
    cands = [Candidate(0, 3, "ORG", 0.7), Candidate(0, 1, "PER", 0.9), Candidate(1, 3, "LOC", 0.2),
             Candidate(2, 3, "LOC", 0.65)]
    nested = decode(cands, flat=False, min_score=0.5)
    assert nested == [Candidate(0, 1, "PER", 0.9), Candidate(0, 3, "ORG", 0.7), Candidate(2, 3, "LOC", 0.65)]
    assert decode(cands, flat=False) == sorted(cands, key=lambda c: (c.start, c.end))
    assert decode(cands, flat=True, min_score=0.8) == [Candidate(0, 1, "PER", 0.9)]
    assert decode(cands, flat=True) == [Candidate(0, 1, "PER", 0.9), Candidate(2, 3, "LOC", 0.65)]


def test_bio_to_candidates() -> None:
    tags = ["I-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-ORG", "B-ORG", "I-ORG", "O", "I-MISC"]
    scores = [0.9, 0.7, 0.1, 0.6, 0.8, 0.5, 0.4, 0.2, 0.3, 1.0]
    got = bio_to_candidates(tags, scores)
    assert [(c.start, c.end, c.label) for c in got] == [
        (0, 2, "PER"),  # stray I- opens a mention
        (3, 5, "LOC"),
        (5, 6, "ORG"),  # I- of another type starts a new mention
        (6, 8, "ORG"),  # B- after I- of the same type starts a new one
        (9, 10, "MISC"),  # at the very end
    ]
    assert [c.score for c in got] == pytest.approx([0.8, 0.7, 0.5, 0.3, 1.0])
    assert bio_to_candidates([], []) == []
    assert bio_to_candidates(["O", "O"], [0.9, 0.9]) == []


# =============================================================================================
# Overfitting
# =============================================================================================

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_overfits_fixture(trained, overfit_data, strategy) -> None:
    model = trained(strategy)
    result = evaluate(model, overfit_data)
    assert result["f1"] == 100.0, result
    assert result["gold_mentions"] == 41
    assert model.strategy == strategy


# =============================================================================================
# Saving and loading
# =============================================================================================

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_save_load_roundtrip(trained, overfit_data, tmp_path, strategy) -> None:
    model = trained(strategy)
    model.save_pretrained(tmp_path)
    loaded = NERModel.from_pretrained(tmp_path, device="cpu")
    assert type(loaded) is type(model) and loaded.strategy == strategy
    assert not loaded.training
    texts = [" ".join(s.words) for s in overfit_data[:8]] + ["Voters in Vienna praised Sony and Anna Lindqvist ."]
    want = model.predict(texts)
    assert sum(len(p) for p in want) >= 10
    assert loaded.predict(texts) == want
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    # only safetensors weights
    names = {p.name for p in tmp_path.iterdir()}
    assert "model.safetensors" in names and "config.json" in names
    assert not {n for n in names if n.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["labels"] == LABELS
    assert config["model_type"] == ("spandec" if strategy == "sf-spandec" else strategy)
    assert config["max_span_words"] == 4


def test_load_rejects_the_wrong_class(trained, tmp_path) -> None:
    trained("token").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="token"):
        spandec.SpanDecModel.from_pretrained(tmp_path, device="cpu")
    assert isinstance(spandec.TokenClassifierModel.from_pretrained(tmp_path, device="cpu"), spandec.TokenClassifierModel)
    with pytest.raises(FileNotFoundError):
        NERModel.from_pretrained(tmp_path / "nothing-here", device="cpu")


def test_config_records_architecture(tiny_encoder, tmp_path) -> None:
    model = make("sf-spandec", tiny_encoder, encoder_layers=1, decoder_layers=2, max_span_words=5).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("encoder."):
                p.add_(torch.randn_like(p) * 0.2)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["encoder"] == tiny_encoder
    assert config["labels"] == LABELS
    assert config["max_span_words"] == 5
    assert config["encoder_layers"] == 1 and config["decoder_layers"] == 2
    assert config["encoder_config"]["num_hidden_layers"] == 1
    assert config["span_filter"] is True
    loaded = NERModel.from_pretrained(tmp_path, device="cpu")
    assert len(loaded.encoder.encoder.layer) == 1 and len(loaded.decoder) == 2
    assert loaded.strategy == "sf-spandec"
    text = "Professor Chen Wei teaches at Stanford University in California ."
    a, b = spandec.analyze(model, text, threshold=0.3), spandec.analyze(loaded, text, threshold=0.3)
    assert a.spans == b.spans and a.kept == b.kept and a.token_probs == b.token_probs
    assert a.scores == b.scores
    # token classification and PL-Marker keep all encoder layers
    for strategy in ("token", "pl-marker"):
        make(strategy, tiny_encoder).save_pretrained(tmp_path / strategy)
        config = json.loads((tmp_path / strategy / "config.json").read_text())
        assert config["encoder_config"]["num_hidden_layers"] == 3 and config["encoder"] == tiny_encoder


@pytest.mark.parametrize("strategy", ["token", "sf-spandec"])
def test_save_float16_loads_as_float32(trained, overfit_data, tmp_path, strategy) -> None:
    model = trained(strategy)
    model.save_pretrained(tmp_path, dtype=torch.float16)
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    loaded = NERModel.from_pretrained(tmp_path, device="cpu")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(loaded.state_dict()[k], v.half().float()), k
    texts = [s.words for s in overfit_data]
    want, got = model.predict(texts), loaded.predict(texts)
    assert [entity_set(p) for p in got] == [entity_set(p) for p in want]
    assert [e["score"] for p in got for e in p] == pytest.approx([e["score"] for p in want for e in p], abs=0.02)


# =============================================================================================
# Windows
# =============================================================================================

def _check_windows(counts, budget, context, windows, full_context: bool) -> None:
    n = len(counts)
    assert windows, "no windows"
    assert windows[0][2] == 0 and windows[-1][3] == n
    for (s, e, cs, ce), nxt in zip(windows, windows[1:] + [None]):
        assert s <= cs < ce <= e <= n
        assert sum(min(c, budget) for c in counts[s:e]) <= budget or e - s == 1
        if nxt is not None:
            assert nxt[2] == ce  # cores are contiguous: they partition the words
        if full_context:
            assert cs - s >= min(context, cs)
            assert e - ce >= min(context, n - ce)
            # a span of up to `context` words starting in the core lies inside the window
            assert all(k + context <= e for k in range(cs, ce) if k + context <= n)


def test_make_windows_properties() -> None:
    rng = random.Random(0)
    assert make_windows([], 10, 2) == []
    assert make_windows([1, 2, 3], 10, 2) == [(0, 3, 0, 3)]
    for _ in range(300):
        n = rng.randint(1, 60)
        counts = [rng.choice([1, 1, 1, 2, 3]) for _ in range(n)]
        context = rng.randint(0, 5)
        budget = rng.randint((2 * context + 1) * 3, 40)  # room for context on both sides
        windows = make_windows(counts, budget, context)
        _check_windows(counts, budget, context, windows, full_context=True)
        if sum(counts) <= budget:
            assert windows == [(0, n, 0, n)]
        # tight budgets and over-long words still give a valid partition
        tight = rng.randint(1, 6)
        long_counts = [c * rng.choice([1, 1, 5]) for c in counts]
        _check_windows(long_counts, tight, context, make_windows(long_counts, tight, context), full_context=False)


def _long_text(data, model, max_subwords: int):
    """Fixture sentences (rotated, with a filler prefix) joined into one text of at most ``max_subwords``
    subwords whose windows cut through a mention and start or end another at a core edge."""
    for first in range(len(data)):
        for filler in range(4):
            words, entities = ["Yesterday"] * filler, []
            for s in data[first:] + data[:first]:
                if sum(model.subword_counts(words + s.words)) > max_subwords:
                    break
                entities += [(a + len(words), b + len(words), t) for a, b, t in s.entities]
                words = words + s.words
            edges = [w.offset + w.core[1] for w in model.windows(words)][:-1]
            cut = [e for e in entities if any(e[0] < b < e[1] for b in edges)]
            touching = [e for e in entities if e[0] in edges or e[1] in edges]
            if len(edges) >= 2 and cut and touching:
                return words, entities, edges, cut
    raise AssertionError("no arrangement puts a mention across a window edge")


def test_windows_cover_every_span_once(tiny_encoder, overfit_data) -> None:
    for strategy in ("token", "spandec"):
        model = make(strategy, tiny_encoder, **MODEL_KW)
        words, _, _, _ = _long_text(overfit_data, model, 120)
        windows = model.windows(words)
        assert len(windows) >= 5
        assert all(len(w.input_ids) <= 24 for w in windows)
        assert sum(w.core[1] - w.core[0] for w in windows) == len(words)
        for w in windows:
            ids, _, _ = model.encode_window(words[w.offset : w.offset + len(w.word_first)])
            assert w.input_ids == ids
        if strategy == "spandec":
            spans = [(w.offset + s, w.offset + e) for w in windows for s, e in model.window_features(w)["spans"]]
            assert sorted(spans) == sorted(set(spans)) == enumerate_spans(len(words), 4)


def _memorize_long_text(model, sentences, steps: int) -> None:
    """Full-batch Adam on ``sentences`` (each one window of at most 126 subwords)."""
    saved, model.window_subwords = model.window_subwords, 126
    try:
        batch = model.collate([f for s in sentences for f in model.training_features(s.words, s.entities)])
    finally:
        model.window_subwords = saved
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_windows_give_the_same_entities(tiny_encoder, overfit_data, strategy) -> None:
    """Windowed prediction (22-subword windows) of a long text equals one-window prediction.

    A model overfitted on 20 short sentences does not carry over to other contexts, so the
    model here memorizes the long text itself and each of its windows as a sentence: the
    windowed and the whole prediction then see memorized inputs, and any difference comes
    from cutting the text into windows and merging their results.
    """
    model = no_dropout(make(strategy, tiny_encoder, **MODEL_KW))
    assert model.window_subwords == 22
    words, gold, edges, cut = _long_text(overfit_data, model, 60)
    sentences = [Sentence(words, spans_to_tags(len(words), gold))]
    for w in model.windows(words):
        a, b = w.offset, w.offset + len(w.word_first)
        inside = [(s - a, e - a, t) for s, e, t in gold if a <= s and e <= b]  # mentions cut off by the window: O
        sentences.append(Sentence(words[a:b], spans_to_tags(b - a, inside)))
    _memorize_long_text(model, sentences, steps=150)

    assert len(model.windows(words)) == len(edges) + 1 >= 3
    windowed = entity_set(model.predict(words))
    windowed_all = entity_set(model.predict(words, flat=False, min_score=0.5))
    model.window_subwords = 126
    assert len(model.windows(words)) == 1
    whole = entity_set(model.predict(words))
    whole_all = entity_set(model.predict(words, flat=False, min_score=0.5))
    assert windowed == whole == gold  # no mention lost or doubled at the edges
    assert set(cut) <= set(windowed)
    if strategy != "token":
        assert len(windowed_all) == len(set(windowed_all))  # no span scored twice
    assert sorted(windowed_all) == sorted(whole_all)


# =============================================================================================
# predict()
# =============================================================================================

def test_predict_input_shapes_and_output(trained) -> None:
    model = trained("spandec")
    text = "Olivia Grant joined Harbor Bank as chief economist ."
    words = text.split()
    one = model.predict(text)
    assert isinstance(one, list) and one and all(isinstance(e, dict) for e in one)
    for e in one:
        assert set(e) == SPANMARKER_KEYS
        assert text[e["char_start_index"] : e["char_end_index"]] == e["span"]
        assert " ".join(words[e["word_start_index"] : e["word_end_index"]]) == e["span"]
        assert 0.0 < e["score"] <= 1.0
    assert [(e["span"], e["label"]) for e in one] == [("Olivia Grant", "PER"), ("Harbor Bank", "ORG")]
    assert model.predict(words) == one
    texts = [text, "Pedro moved to Lisbon ."]
    many = model.predict(texts)
    assert len(many) == 2 and many[0] == one and all(isinstance(p, list) for p in many)
    assert model.predict([words, "Pedro moved to Lisbon .".split()]) == many
    assert model.predict(tuple(texts)) == many
    assert model.predict_batch([text]) == [one]
    # raw text with irregular spacing and punctuation: offsets still slice the text
    messy = "  Pedro  moved to Lisbon,and Omar Haddad flew\tto Rome!  "
    for e in model.predict(messy):
        assert messy[e["char_start_index"] : e["char_end_index"]] == e["span"]
    assert model.predict("") == []
    assert model.predict("   \n ") == []
    assert model.predict(["", text]) == [[], one]
    assert model.predict_batch([]) == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_predict_every_strategy(trained, strategy) -> None:
    model = trained(strategy)
    text = "Kenji Watanabe won the Tour de France sprint stage ."
    got = model.predict(text)
    assert [(e["span"], e["label"]) for e in got] == [("Kenji Watanabe", "PER"), ("Tour de France", "MISC")]
    for e in got:
        assert set(e) == SPANMARKER_KEYS
        assert text[e["char_start_index"] : e["char_end_index"]] == e["span"]
    assert model.predict("") == []
    everything = model.predict(text, flat=False, min_score=0.0)
    assert {(e["span"], e["label"]) for e in got} <= {(e["span"], e["label"]) for e in everything}


def test_unlearnable_gold_entities_are_counted(tiny_encoder) -> None:
    words = [f"w{i}" for i in range(60)]
    entities = [(0, 10, "PER"), (20, 22, "LOC"), (40, 49, "LOC")]  # two longer than 8 words
    span_report: dict[str, int] = {}
    make("spandec", tiny_encoder).training_features(words, entities, span_report)
    assert span_report.get("too_long") == 2 and not span_report.get("cut")
    token_report: dict[str, int] = {}
    make("token", tiny_encoder).training_features(words, entities, token_report)
    assert token_report == {}  # token classification can learn long entities
