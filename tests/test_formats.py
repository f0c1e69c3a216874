"""The files the project writes read back exactly (spandec.formats), and the gold column of CoNLL files."""

from __future__ import annotations

import json

import pytest
import torch

from spandec.benchmark import interleaved, strategy_of
from spandec.data import DataError, Sentence, read_conll
from spandec.inputs import read_inputs, read_jsonl_inputs
from spandec.formats import conll_word_problem, write_conll, write_jsonl


@pytest.mark.parametrize("word,why", [
    ("New York", "holds whitespace"), ("a\nb", "holds whitespace"), ("", "an empty word"),
    ("-DOCSTART-", "document break"), ("tab\there", "holds whitespace"), ("nb\u00a0sp", "holds whitespace"),
])
def test_conll_writer_refuses_words_that_would_not_read_back(tmp_path, word, why):
    path = tmp_path / "out.conll"
    with pytest.raises(DataError, match=rf"^{path}: cannot write CoNLL: sentence 2, word 2: .*{why}"):
        write_conll(path, [(["ok"], ["O"]), (["fine", word], ["O", "B-LOC"])], ["sentence 1", "sentence 2"])
    assert not path.exists()
    assert conll_word_problem("Zürich") is None


def test_conll_round_trip_and_gold_column(tmp_path, capsys):
    """word gold pred: gold from column 2 (a note on stderr); --tag-column/tag_column picks another."""
    path = tmp_path / "pred.conll"
    sents = [(["Anna", "lives", "in", "Oslo"], ["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "O", "O"]),
             (["Über", "Zürich"], ["O", "B-LOC"], ["O", "B-ORG"])]
    write_conll(path, sents)
    back = read_conll(path)
    assert [(s.words, s.tags) for s in back] == [(w, g) for w, g, _ in sents]
    assert capsys.readouterr().err.strip() == (f"{path}: three columns with tags in the last two (word gold "
                                               "predicted); reading the gold tags from column 2 (--tag-column to choose)")
    assert [s.tags for s in read_conll(path, tag_column=-1)] == [p for _, _, p in sents]
    assert not capsys.readouterr().err
    four = tmp_path / "conll2003.txt"  # word POS chunk NER: the chunk column is tag-like, the NER column is last
    four.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n")
    assert read_conll(four)[0].tags == ["B-ORG", "O"]
    chunk = tmp_path / "chunk.txt"  # word chunk NER: no shared types, so the last column
    chunk.write_text("EU B-NP B-ORG\nrejects B-VP O\n\n")
    assert read_conll(chunk)[0].tags == ["B-ORG", "O"] and not capsys.readouterr().err


def test_jsonl_round_trip_splits_on_newlines_only(tmp_path):
    path = tmp_path / "out.jsonl"
    records = [{"text": "Rome\u2028is\u2029in\x85Italy\r\n."}, {"tokens": ["New York", "i\u2028s"]}, "bare"]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            write_jsonl(f, r)
    assert read_jsonl_inputs(path) == [records[0]["text"], records[1]["tokens"], "bare"]
    txt = tmp_path / "texts.txt"
    txt.write_text("one\u2028line\r\nsecond\n", encoding="utf-8", newline="")
    assert read_inputs(txt).items == ["one\u2028line", "second"]


@pytest.mark.parametrize("tokens,message", [
    ([None, 5], "token 1 is null, not a string"), (["ok", 5], "token 2 is 5, not a string"),
    (["ok", " "], "token 2 is empty or only whitespace"), ([], "'tokens' is an empty list"),
])
def test_bad_tokens_rejected_with_file_and_line(tmp_path, tokens, message):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"tokens": tokens}) + "\n")
    with pytest.raises(DataError, match=rf"^{path}:2: {message}$"):
        read_jsonl_inputs(path)


class Clock:
    """A fake ``perf_counter`` for a machine that slows down steadily (load from other jobs growing)."""

    def __init__(self):
        self.now, self.calls = 0.0, 0

    def __call__(self) -> float:
        return self.now

    def spend(self, ms: float) -> None:
        self.calls += 1
        self.now += ms / 1000 * (1 + 0.01 * self.calls)  # each call 1 % slower than the one before


class FakeModel:
    """A stand-in model whose batches cost ``ms`` per sentence on ``clock``."""

    device = torch.device("cpu")

    def __init__(self, clock: Clock, ms: float):
        self.clock, self.ms, self.calls = clock, ms, []

    def predict_candidates(self, docs, batch_size=8, **options):
        self.calls.append(len(docs))
        self.clock.spend(self.ms * len(docs))
        return [[] for _ in docs], None


def test_interleaved_ratio_holds(monkeypatch):
    """Two models taking turns batch by batch on a machine that slows down: the per-round ratio stays the true
    speed ratio (measured one after the other, the second would look slower); every batch measured once each."""
    import spandec.benchmark as bench

    clock = Clock()
    monkeypatch.setattr(bench.time, "perf_counter", clock)
    sentences = [Sentence(["w"] * 5, ["O"] * 5) for _ in range(96)]
    fast, slow = FakeModel(clock, 1.0), FakeModel(clock, 2.0)
    r = interleaved({"fast": (fast, {}), "slow": (slow, {})}, sentences, batch_size=8, batches_per_round=2,
                    passes=2, warmup_batches=1)
    assert r["baseline"] == "fast" and r["rounds"] == 12 and r["models"]["fast"]["ratio"]["median"] == 1.0
    ratio = r["models"]["slow"]["ratio"]
    assert ratio["median"] == pytest.approx(0.5, abs=0.01) and ratio["iqr"] < 0.01
    assert ratio["q1"] <= ratio["median"] <= ratio["q3"] and ratio["overall"] == pytest.approx(0.5, abs=0.01)
    assert fast.calls == slow.calls == [8] + [8] * 24  # one warm-up batch, then 12 batches x 2 passes
    with pytest.raises(ValueError, match="baseline 'x'"):
        interleaved({"fast": (fast, {})}, sentences, baseline="x")
    monkeypatch.setattr(bench.time, "process_time", clock)  # the CPU clock is the same bookkeeping
    cpu = interleaved({"fast": (fast, {}), "slow": (slow, {})}, sentences, batch_size=8, clock="cpu")
    assert cpu["clock"] == "cpu" and cpu["models"]["slow"]["ratio"]["median"] == pytest.approx(0.5, abs=0.01)
    passes = bench.throughput({"fast": (fast, {}), "slow": (slow, {})}, sentences, batch_size=8, rounds=3, warmup=8,
                              clock=clock)
    assert len(passes["slow"]["rounds"]) == 3 and passes["slow"]["samples"] == 96  # one figure per pass
    assert passes["fast"]["median"] == pytest.approx(2 * passes["slow"]["median"], rel=0.02)
    with pytest.raises(ValueError, match="clock must be"):
        interleaved({"fast": (fast, {})}, sentences, clock="sundial")


def test_interleaved_repeats_keep_the_undisturbed_run(monkeypatch):
    """Other jobs only add time: with repeats, each batch's fastest run counts, so bursts do not move the ratio."""
    import spandec.benchmark as bench

    clock = Clock()
    monkeypatch.setattr(bench.time, "perf_counter", clock)

    class Bursty(FakeModel):
        def predict_candidates(self, docs, batch_size=8, **options):
            if len(self.calls) % 3 == 1:
                clock.now += 0.05  # a burst from another job: 50 ms on every third call
            return super().predict_candidates(docs, batch_size, **options)

    sentences = [Sentence(["w"] * 5, ["O"] * 5) for _ in range(64)]
    fast, slow = Bursty(clock, 1.0), Bursty(clock, 2.0)
    r = interleaved({"fast": (fast, {}), "slow": (slow, {})}, sentences, batch_size=8, batches_per_round=1,
                    warmup_batches=0, repeats=3)
    assert r["rounds"] == 8 and len(fast.calls) == len(slow.calls) == 24
    ratio = r["models"]["slow"]["ratio"]
    assert ratio["median"] == pytest.approx(0.5, abs=0.02) and ratio["iqr"] < 0.02
    noisy = interleaved({"fast": (Bursty(clock, 1.0), {}), "slow": (Bursty(clock, 2.0), {})}, sentences,
                        batch_size=8, batches_per_round=1, warmup_batches=0, repeats=1)
    assert abs(noisy["models"]["slow"]["ratio"]["overall"] - 0.5) > 0.05  # without repeats the bursts show


def test_stored_result_names():
    assert strategy_of("spandec (sf-spandec@0)") == strategy_of("spandec") == "spandec"
    assert strategy_of("pl-marker") == "pl-marker"


def test_interleaved_real_models(tiny_encoder):
    """The tiny token model and SF-SpanDec measured together: every figure present and positive."""
    import spandec

    torch.manual_seed(0)
    models = {"token": (spandec.new_model("token", ["LOC"], tiny_encoder), {}),
              "sf-spandec": (spandec.new_model("sf-spandec", ["LOC"], tiny_encoder), {"threshold": 0.5})}
    sentences = [Sentence("Anna lives in Oslo .".split(), ["O"] * 5) for _ in range(16)]
    r = interleaved(models, sentences, batch_size=4, batches_per_round=1, warmup_batches=1)
    assert r["rounds"] == 4 and r["models"]["sf-spandec"]["samples_per_second"] > 0
    assert r["models"]["sf-spandec"]["ratio"]["overall"] > 0
