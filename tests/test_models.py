"""Tests of the four NER models on the tiny random encoder (no downloads, no benchmark data).

The module trains every strategy once on ``data/fixtures/overfit.conll`` (20 sentences,
dropout off, single thread) and reuses those models for the checks that need a model whose
predictions are not noise: overfitting, save/load, predict(), the SF-SpanDec threshold.
The windows test memorizes its own long text (see there).
"""
from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors import safe_open

import spandec
from spandec.evaluation import evaluate
from spandec import NERModel, load_model
from spandec.models.explain import analyze
from spandec.spans import Candidate, Document, bio_to_candidates, decode, decode_flat
from spandec.training import TrainingArgs, train

from model_helpers import LABELS, MODEL_KW, SPANMARKER_KEYS, STRATEGIES, entity_set, make, no_dropout

pytestmark = pytest.mark.usefixtures("one_thread")

# Epochs per strategy at lr 5e-3 (no 10x for new weights: the random encoder must learn the most;
# dropout off, which in a 32-wide model slows memorizing a lot).
# The span models learn slower than token classification: from a random encoder they must first
# learn to attend to their span's positions; SF-SpanDec also shares the encoder with its token loss.
EPOCHS = {"token": 15, "pl-marker": 50, "spandec": 60, "sf-spandec": 80}

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


# =============================================================================================
# SF-SpanDec threshold
# =============================================================================================

def test_sf_threshold_prunes_spans(trained, overfit_data) -> None:
    model = trained("sf-spandec")
    inputs = [s.words for s in overfit_data]
    # thresholds between the words' entity probabilities, so that each step drops some words
    probs = sorted({round(p, 4) for s in inputs for p in analyze(model, s).token_probs})
    assert len(probs) > 20
    cuts = [(probs[k] + probs[k + 1]) / 2 for k in (len(probs) // 4, len(probs) // 2, 3 * len(probs) // 4)]
    stats = []
    for threshold in [0.0] + cuts:
        stats.append(model.predict_with_stats(inputs, threshold=threshold).stats)
    candidates = [s.candidates for s in stats]
    decoded = [s.decoded for s in stats]
    assert len(set(candidates)) == 1 and candidates[0] > 0
    assert decoded[0] == candidates[0]  # threshold 0 decodes every candidate
    assert all(a > b for a, b in zip(decoded, decoded[1:])), decoded
    at_half = model.predict_with_stats(inputs, threshold=0.5).stats.decoded
    default = model.predict_with_stats(inputs).stats.decoded  # without a threshold: the config's (0.5)
    assert model.config.threshold == 0.5 and default == at_half < candidates[0]


def test_sf_threshold_zero_equals_spandec(trained, tiny_encoder, overfit_data) -> None:
    sf = trained("sf-spandec")
    plain = make("spandec", tiny_encoder, **MODEL_KW).eval()
    state = {k: v for k, v in sf.state_dict().items() if not k.startswith("token_head.")}
    plain.load_state_dict(state)
    docs = [Document.from_input(s.words) for s in overfit_data]
    got, _ = sf.predict_candidates(docs, threshold=0.0)
    want, _ = plain.predict_candidates(docs)
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
            analyze(model, "Maria Lopez moved to Buenos Aires .", threshold=bad)


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
    loaded = load_model(tmp_path, device="cpu")
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


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_with_labels_carries_rows_by_name(trained, overfit_data, strategy) -> None:
    """Relabelling keeps every weight; a permuted label set predicts the same; new labels get fresh rows."""
    model = trained(strategy)
    texts = [" ".join(s.words) for s in overfit_data[:6]]
    permuted, fresh = model.with_labels(list(reversed(LABELS)))
    assert fresh == [] and permuted.config.labels == list(reversed(LABELS))
    got, want = permuted.predict(texts), model.predict(texts)  # same up to float summation order
    strip = lambda preds: [[{k: v for k, v in e.items() if k != "score"} for e in p] for p in preds]
    assert strip(got) == strip(want) and sum(map(len, want)) >= 6
    assert all(abs(a["score"] - b["score"]) < 1e-5 for p, q in zip(got, want) for a, b in zip(p, q))
    other, fresh = model.with_labels(["CITY", "LOC", "PER"])
    assert fresh == (["B-CITY", "I-CITY"] if strategy == "token" else ["CITY"])
    assert other.config.labels == ["CITY", "LOC", "PER"] and model.config.labels == LABELS
    assert all(e["label"] in ("CITY", "LOC", "PER") for p in other.predict(texts) for e in p)


@pytest.mark.parametrize("strategy", ["spandec", "sf-spandec"])
def test_with_depth_warm_start(trained, overfit_data, tmp_path, strategy) -> None:
    """Table 8 depths from a trained model: added decoder layers start as the identity, a shallower
    encoder keeps the first trained layers; the new depth is saved and loaded back."""
    model = trained(strategy)
    texts = [" ".join(s.words) for s in overfit_data[:6]]
    want = model.predict(texts, threshold=0.0)
    deeper, note = model.with_depth(decoder_layers=3)
    assert note == "encoder 2 -> 2 layers, decoder 1 -> 3 layers (2 new identity layers)"
    assert len(deeper.decoder) == 3 and deeper.config.decoder_layers == 3 and len(model.decoder) == 1
    got = deeper.eval().predict(texts, threshold=0.0)
    assert [[(e["span"], e["label"]) for e in p] for p in got] == [[(e["span"], e["label"]) for e in p] for p in want]
    assert all(abs(a["score"] - b["score"]) < 1e-5 for p, q in zip(got, want) for a, b in zip(p, q))
    assert torch.equal(deeper.decoder[0].fc1.weight, model.decoder[0].fc1.weight)
    assert not deeper.decoder[2].fc2.weight.any() and deeper.decoder[2].fc1.weight.any()
    shallow, note = model.with_depth(encoder_layers=1)
    assert note == "encoder 2 -> 1 layers, decoder 1 -> 1 layers" and shallow.config.encoder_layers == 1
    assert len(shallow.encoder.encoder.layer) == 1 and len(model.encoder.encoder.layer) == 2
    assert torch.equal(shallow.encoder.encoder.layer[0].output.dense.weight, model.encoder.encoder.layer[0].output.dense.weight)
    assert torch.equal(shallow.classifier.weight, model.classifier.weight)
    scores = lambda preds: [e["score"] for p in preds for e in p]
    assert scores(shallow.eval().predict(texts, threshold=0.0)) != scores(want)  # layer 2 mattered
    shallow.save_pretrained(tmp_path)
    loaded = load_model(tmp_path, device="cpu")
    assert len(loaded.encoder.encoder.layer) == 1 and loaded.config.decoder_layers == 1
    assert loaded.predict(texts, threshold=0.0) == shallow.predict(texts, threshold=0.0)
    with pytest.raises(ValueError, match="2 trained encoder layers; cannot keep 3"):
        model.with_depth(encoder_layers=3)
    with pytest.raises(ValueError, match="at least 1"):
        model.with_depth(decoder_layers=0)


def test_load_rejects_the_wrong_class(trained, tmp_path) -> None:
    trained("token").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="token"):
        spandec.SpanDecModel.from_pretrained(tmp_path, device="cpu")
    assert isinstance(spandec.TokenClassifierModel.from_pretrained(tmp_path, device="cpu"), spandec.TokenClassifierModel)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing-here", device="cpu")


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
    loaded = load_model(tmp_path, device="cpu")
    assert len(loaded.encoder.encoder.layer) == 1 and len(loaded.decoder) == 2
    assert loaded.strategy == "sf-spandec"
    text = "Professor Chen Wei teaches at Stanford University in California ."
    a, b = analyze(model, text, threshold=0.3), analyze(loaded, text, threshold=0.3)
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
    loaded = load_model(tmp_path, device="cpu")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(loaded.state_dict()[k], v.half().float()), k
    texts = [s.words for s in overfit_data]
    want, got = model.predict(texts), loaded.predict(texts)
    assert [entity_set(p) for p in got] == [entity_set(p) for p in want]
    assert [e["score"] for p in got for e in p] == pytest.approx([e["score"] for p in want for e in p], abs=0.02)


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


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_words_reach_the_tokenizer_nfkc_normalised(tiny_encoder, strategy) -> None:
    """Every strategy scores a full-width (or ligature) text exactly as its NFKC form, offsets into the original;
    spans that start or end on a word of only zero-width characters never become entities."""
    model = make(strategy, tiny_encoder, **MODEL_KW).eval()
    text = "Angela Merkel met Emmanuel Macron in Paris for the final ."
    wide = _full_width(text).replace("ｆｉ", "ﬁ")  # full-width letters and a ligature
    assert "ﬁ" in wide
    options = {"flat": False, "min_score": 0.0, **({"threshold": 0.0} if strategy == "sf-spandec" else {})}
    key = lambda ents: [(e["word_start_index"], e["word_end_index"], e["label"], round(e["score"], 5)) for e in ents]
    got = model.predict(wide, **options)
    assert key(got) == key(model.predict(text, **options))
    assert all(e["span"] == wide[e["char_start_index"]:e["char_end_index"]] for e in got)
    blank = "Kofi \u200b\u200b lives \u2060 in \ufeff Accra"
    words = spandec.spans.Document.from_input(blank)
    invisible = {k for k, w in enumerate(words.words) if not w.strip("\u200b\u2060\ufeff")}
    assert invisible == {1, 3, 5}
    found = model.predict(blank, **options)
    assert found and all(e["word_start_index"] not in invisible and e["word_end_index"] - 1 not in invisible
                         for e in found)
    assert model.predict("\u200b\u200b \u200b", **options) == []


# =============================================================================================
# Options checked where they enter; what a model class says it can do
# =============================================================================================

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_misspelt_options_are_errors(tiny_encoder, strategy) -> None:
    """``predict(text, treshold=0.3)`` raises, naming the option and the accepted ones, on every path in."""
    from spandec.models.base import UnknownOption

    model = make(strategy, tiny_encoder, **MODEL_KW).eval()
    text = "Maria Lopez moved to Buenos Aires ."
    for call in (lambda **o: model.predict(text, **o), lambda **o: model.predict_with_stats([text], **o),
                 lambda **o: evaluate(model, [], **o)):
        with pytest.raises(TypeError, match=r"'treshold'.*accepted: batch_size, flat, min_score") as err:
            call(treshold=0.3)
        assert isinstance(err.value, (UnknownOption, ValueError))
    if strategy in ("spandec", "sf-spandec"):
        assert "threshold" in model.predict_options
        with pytest.raises(TypeError, match="accepted: batch_size, flat, min_score, threshold"):
            model.predict(text, thresold=0.3)
        model.predict(text, threshold=0.3)  # the accepted spelling runs
    else:  # no span filter: a threshold is not silently ignored
        with pytest.raises(TypeError, match=f"'threshold' for a {strategy} model"):
            model.predict(text, threshold=0.3)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_model_classes_say_what_they_can_do(tiny_encoder, strategy) -> None:
    from spandec.flops import EncoderShape, model_gflops, pl_marker_gflops, spandec_gflops, token_classification_gflops

    model = make(strategy, tiny_encoder, **MODEL_KW)
    span = strategy != "token"
    assert model.strategy == strategy and spandec.models.model_class(strategy).strategy_of(model.config) == strategy
    assert model.enumerates_spans == span
    assert model.has_span_decoder == (strategy in ("spandec", "sf-spandec"))
    assert model.has_span_filter == (strategy == "sf-spandec")
    assert bool(model.onnx_parts) == (strategy != "pl-marker") and ("decoder" in model.onnx_parts) == model.has_span_decoder
    enc = EncoderShape.from_hf_config(model.encoder.config)
    expected = {"token": lambda: token_classification_gflops(enc, 30, num_labels=2 * len(LABELS) + 1),
                "pl-marker": lambda: pl_marker_gflops(enc, 30, 40, marker_max_length=128, num_types=len(LABELS)),
                "spandec": lambda: spandec_gflops(enc, 30, 40, num_types=len(LABELS), encoder_layers=enc.layers),
                "sf-spandec": lambda: spandec_gflops(enc, 30, 40, num_types=len(LABELS), encoder_layers=enc.layers)}
    assert model_gflops(model, 30, 40) == pytest.approx(expected[strategy]())
    assert (model_gflops(model, 30, 40, 0.25) < model_gflops(model, 30, 40)) == model.has_span_filter


def test_flops_of_an_unknown_model_are_an_error(tiny_encoder) -> None:
    """flops.py counts nothing for a model that does not say how (it used to count SpanDec's)."""
    from spandec.flops import model_gflops

    class Other(NERModel):
        model_type = "other"

    model = Other(spandec.NERConfig(labels=LABELS, encoder=tiny_encoder), make("token", tiny_encoder).encoder,
                  make("token", tiny_encoder).tokenizer)
    with pytest.raises(NotImplementedError, match="Other does not say how its FLOPs are counted"):
        model_gflops(model, 30, 40)
    with pytest.raises(TypeError, match="object does not say how its FLOPs are counted"):
        model_gflops(object(), 30, 40)
