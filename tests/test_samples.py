"""Document-context samples (spandec.samples), the recorded training window, and the CLI's --sample-words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spandec.data import Sentence, read_conll
from spandec.samples import by_document, document_samples, join, join_consecutive, whole_documents

from model_helpers import make

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"


def sent(n: int, doc: str | None, label: str = "PER") -> Sentence:
    """``n`` words, the first a one-word entity of ``label``."""
    return Sentence([f"{doc}w{k}" for k in range(n)], [f"B-{label}"] + ["O"] * (n - 1), doc)


def test_document_samples_pack_within_documents() -> None:
    data = [sent(20, "a"), sent(30, "a"), sent(15, "a"), sent(70, "a"), sent(5, "b"), sent(5, "b"), sent(9, None)]
    samples = document_samples(data, 60)
    assert [len(s.words) for s in samples] == [50, 15, 70, 10, 9]  # 50+15 > 60; 70 alone; b never joins a
    assert [s.doc_id for s in samples] == ["a", "a", "a", "b", None]
    # nothing lost or reordered: the words and every entity, shifted, are all there
    assert [w for s in samples for w in s.words] == [w for s in data for w in s.words]
    assert sum(len(s.entities) for s in samples) == len(data)
    assert samples[0].entities == [(0, 1, "PER"), (20, 21, "PER")]
    with pytest.raises(ValueError, match="max_words"):
        document_samples(data, 0)


def test_join_k_and_whole_documents() -> None:
    data = [sent(3, "a"), sent(4, "a"), sent(5, "a"), sent(2, "b")]
    assert [len(s.words) for s in join_consecutive(data, 2)] == [7, 5, 2]
    assert [len(s.words) for s in join_consecutive(data, 1)] == [3, 4, 5, 2]
    assert [len(s.words) for s in whole_documents(data)] == [12, 2]
    assert [len(d) for d in by_document(data)] == [3, 1]
    with pytest.raises(ValueError):
        join([])
    with pytest.raises(ValueError):
        join_consecutive(data, 0)


def test_samples_from_a_conll_file_keep_documents() -> None:
    sentences = read_conll(FIXTURES / "iob2.txt")
    docs = by_document(sentences)
    samples = document_samples(sentences, 1000)
    assert len(samples) == len(docs) >= 2  # a large budget gives one sample per -DOCSTART- document
    assert [s.tags for s in samples] == [[t for s in d for t in s.tags] for d in docs]


def test_window_cap_is_recorded_and_obeyed(tiny_encoder, tmp_path) -> None:
    model = make("token", tiny_encoder)
    words = [f"w{k}" for k in range(300)]
    assert max(len(w.input_ids) for w in model.windows(words)) > 40
    model.set_window(40)
    assert max(len(w.input_ids) for w in model.windows(words)) <= 40
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["window_subwords"] == 40
    from spandec import load_model

    loaded = load_model(tmp_path, device="cpu")
    assert max(len(w.input_ids) for w in loaded.windows(words)) <= 40
    with pytest.raises(ValueError, match="window"):
        model.set_window(4)


def test_training_records_its_longest_window(tiny_encoder, tmp_path) -> None:
    from spandec.training import MIN_RECORDED_WINDOW, TrainingArgs, train

    model = make("token", tiny_encoder)
    data = [sent(12, "a"), sent(7, "a"), sent(50, "b")]
    assert model.config.window_subwords is None
    train(model, document_samples(data, 60), None, TrainingArgs(output_dir=str(tmp_path), epochs=1, batch_size=2,
                                                                 per_device_batch_size=2, progress=False))
    longest = min(max(len(model.encode_window(s.words)[0]) for s in document_samples(data, 60)),
                  model.window_subwords)  # a sample over the encoder's limit is split into windows
    assert longest > MIN_RECORDED_WINDOW
    assert model.config.window_subwords == longest
    assert json.loads((tmp_path / "best" / "config.json").read_text())["window_subwords"] == longest
    short = make("token", tiny_encoder)  # a corpus of short texts records at least MIN_RECORDED_WINDOW
    train(short, [sent(3, "c")], None, TrainingArgs(output_dir=str(tmp_path / "short"), epochs=1, batch_size=1,
                                                     per_device_batch_size=1, progress=False))
    assert short.config.window_subwords == MIN_RECORDED_WINDOW


def test_cli_trains_on_document_samples(tiny_encoder, tmp_path, capsys) -> None:
    from spandec.cli import main

    out = tmp_path / "run"
    code = main(["train", "--strategy", "token", "--train", str(FIXTURES / "iob2.txt"), "--encoder", tiny_encoder,
                 "--sample-words", "60", "--window-subwords", "24", "--epochs", "1", "--batch-size", "2",
                 "--per-device-batch-size", "2", "--output", str(out), "--quiet"])
    assert code == 0
    summary = json.loads((out / "training.json").read_text())
    sentences = read_conll(FIXTURES / "iob2.txt")
    assert summary["train_sentences"] == len(sentences)
    assert summary["sample_words"] == 60 and summary["train_samples"] == len(document_samples(sentences, 60))
    assert json.loads((out / "best" / "config.json").read_text())["window_subwords"] == 24
    with pytest.raises(SystemExit):
        main(["train", "--strategy", "sf-spandec", "--train", str(FIXTURES / "iob2.txt"), "--threshold", "1.5",
              "--output", str(tmp_path / "bad")])
    assert "threshold must be between 0 and 1" in capsys.readouterr().err


def test_cli_evaluates_samples_beside_sentences(tiny_encoder, tmp_path, capsys) -> None:
    from spandec.cli import main

    model = make("token", tiny_encoder)
    model.save_pretrained(tmp_path / "m")
    code = main(["evaluate", str(tmp_path / "m"), str(FIXTURES / "iob2.txt"), "--sample-words", "60"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    sentences = read_conll(FIXTURES / "iob2.txt")
    assert result["sentences"]["sentences"] == len(sentences)
    samples = result["samples_60_words"]
    assert samples["inputs"] == len(document_samples(sentences, 60)) < len(sentences)
    assert samples["gold_mentions"] == result["sentences"]["gold_mentions"] > 0
