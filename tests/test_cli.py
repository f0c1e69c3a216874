"""The ``spandec`` command line: stats, train -> evaluate -> predict, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spandec.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
CHECKPOINTS = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
OVERFIT = FIXTURES / "overfit.conll"


pytestmark = pytest.mark.usefixtures("one_thread")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The error message: the last line of stderr, with no traceback anywhere."""
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    return lines[-1]


@pytest.fixture(scope="module")
def trained_model(tiny_encoder, tmp_path_factory) -> Path:
    """A SpanDec model trained for a few steps through ``spandec train``."""
    out = tmp_path_factory.mktemp("cli-train")
    code = main([
        "train", "--strategy", "sf-spandec", "--train", str(OVERFIT), "--dev", str(OVERFIT),
        "--max-dev-sentences", "5", "--output", str(out), "--encoder", tiny_encoder, "--epochs", "2",
        "--max-steps", "3", "--batch-size", "4", "--per-device-batch-size", "4", "--max-span-words", "4",
        "--lr", "1e-3", "--quiet",
    ])
    assert code == 0
    return out


def test_sample_sentences_is_seeded_and_ordered() -> None:
    from spandec.cli import sample_sentences
    from spandec.data import read_conll

    sentences = read_conll(OVERFIT)
    a, b = sample_sentences(sentences, 8, 1), sample_sentences(sentences, 8, 1)
    index = [sentences.index(s) for s in a]
    assert a == b and len(a) == 8 and index == sorted(index) and len(set(index)) == 8
    assert sample_sentences(sentences, 8, 2) != a and sample_sentences(sentences, 99, 1) == sentences
    with pytest.raises(ValueError, match="at least 1"):
        sample_sentences(sentences, 0, 1)


# ----- stats ----------------------------------------------------------------------------------

def test_stats(capsys, tmp_path) -> None:
    code, out, err = run(capsys, "stats", OVERFIT)
    assert code == 0 and not err.strip()
    assert str(OVERFIT) in out
    counts = {" ".join(line.split()[:-1]): line.split()[-1] for line in out.splitlines()[1:6]}
    assert counts["sentences"] == "20" and counts["tokens"] == "173" and counts["mentions"] == "41"
    for typ, n in {"LOC": 16, "MISC": 7, "ORG": 9, "PER": 9}.items():
        assert any(line.split()[:2] == [typ, str(n)] for line in out.splitlines()), typ
    # a folder: every CoNLL file in it, the .docids.txt companion skipped
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.conll").write_text(OVERFIT.read_text())
    (folder / "b.txt").write_text("Paris B-LOC\n\n")
    (folder / "b.docids.txt").write_text("doc1\n")
    code, out, _ = run(capsys, "stats", folder)
    assert code == 0 and str(folder / "a.conll") in out and str(folder / "b.txt") in out
    assert "docids" not in out


# ----- train -> evaluate -> predict ------------------------------------------------------------

def test_train_writes_model_and_summary(trained_model, capsys) -> None:
    summary = json.loads((trained_model / "training.json").read_text())
    assert summary["strategy"] == "sf-spandec" and summary["steps"] == 3 and summary["world_size"] == 1
    assert summary["train_sentences"] == 20 and summary["init_from"] is None and summary["dev_sentences"] == 5
    assert summary["args"]["batch_size"] == 4 and summary["args"]["epochs"] == 2 and summary["args"]["learning_rate"] == 1e-3
    config = json.loads((trained_model / "best" / "config.json").read_text())
    assert config["labels"] == ["LOC", "MISC", "ORG", "PER"] and config["span_filter"] is True
    assert config["max_span_words"] == 4


def test_evaluate(trained_model, capsys, tmp_path) -> None:
    conll, scores = tmp_path / "pred.conll", tmp_path / "scores.json"
    code, out, _ = run(capsys, "evaluate", trained_model / "best", OVERFIT, "--output-conll", conll, "--json", scores,
                       "--threshold", "0")
    assert code == 0
    result = json.loads(out)
    assert json.loads(scores.read_text()) == result
    assert result["sentences"] == 20 and result["gold_mentions"] == 41
    assert result["candidates"] == result["decoded"] > 0  # threshold 0: no pruning
    lines = [line for line in conll.read_text().splitlines() if line]
    assert len(lines) == 173 and all(len(line.split()) == 3 for line in lines)
    # the reported scores are seqeval's on the file's own gold and predicted columns
    from spandec.evaluation import score

    rows = [block.split("\n") for block in conll.read_text().strip().split("\n\n")]
    gold = [[line.split()[1] for line in block] for block in rows]
    pred = [[line.split()[2] for line in block] for block in rows]
    expected = score(gold, pred)
    assert (result["f1"], result["precision"], result["recall"]) == (expected["f1"], expected["precision"],
                                                                    expected["recall"])
    code, out, _ = run(capsys, "evaluate", trained_model / "best", OVERFIT, "--max-sentences", "3")
    assert code == 0 and json.loads(out)["sentences"] == 3


def test_evaluate_round_trip(capsys, tmp_path) -> None:
    """A file ``evaluate --output-conll`` writes (word gold pred) evaluates back to the same scores:
    its gold is read from column 2 (noted on stderr), or from the column --tag-column names."""
    model = CHECKPOINTS / "token"
    conll = tmp_path / "pred.conll"
    code, out, _ = run(capsys, "evaluate", model, OVERFIT, "--output-conll", conll)
    first = json.loads(out)
    assert code == 0 and first["f1"] > 30  # a trained model: it finds entities
    code, out, err = run(capsys, "evaluate", model, conll)
    again = json.loads(out)
    assert code == 0 and "reading the gold tags from column 2" in err and len(err.strip().splitlines()) == 1
    assert (again["f1"], again["gold_mentions"]) == (first["f1"], first["gold_mentions"]) == (first["f1"], 41)
    code, out, err = run(capsys, "evaluate", model, conll, "--tag-column", "-1")  # the predictions as gold: 100
    assert code == 0 and json.loads(out)["f1"] == 100.0 and not err.strip()
    code, out, _ = run(capsys, "stats", conll, "--tag-column", "1")
    assert code == 0 and "mentions                    41" in out


def test_cli_edges(capsys, tmp_path) -> None:
    """Bad numbers, a folder without split files, --max-sentences 0: one line naming the option or file, rc 2."""
    model = CHECKPOINTS / "token"
    for value, why in (("-1", "must be at least 1, got -1"), ("0", "must be at least 1, got 0"),
                       ("x", "expected a whole number, got 'x'")):
        with pytest.raises(SystemExit) as exc:
            main(["evaluate", str(model), str(OVERFIT), "--batch-size", value])
        assert exc.value.code == 2
        assert error_line(capsys.readouterr().err) == f"spandec evaluate: error: argument --batch-size: {why}"
    with pytest.raises(SystemExit):
        main(["evaluate", str(model), str(OVERFIT), "--max-sentences", "0"])
    assert "argument --max-sentences: must be at least 1" in error_line(capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["stats", str(OVERFIT), "--tag-column", "0"])
    assert "argument --tag-column: column 0 is the word" in error_line(capsys.readouterr().err)
    folder = tmp_path / "some_folder"
    folder.mkdir()
    code, _, err = run(capsys, "evaluate", model, f"{folder}/")
    assert code == 2 and error_line(err).startswith(f"spandec evaluate: error: {folder}/: no train/dev/test file")
    (folder / "train.txt").write_text(OVERFIT.read_text())
    code, _, err = run(capsys, "evaluate", model, folder)
    assert code == 2 and error_line(err) == (f"spandec evaluate: error: {folder}: no test file (found: train); "
                                             "name it test.txt, or pass the file")
    code, _, err = run(capsys, "evaluate", model, tmp_path / "missing" / "test.txt")
    assert code == 2 and error_line(err).endswith("missing/test.txt: no such file or folder")
    assert not (Path.home() / ".cache" / "huggingface" / "datasets" / "some_folder").exists()


def test_long_text_no_length_warning(capsys, tmp_path) -> None:
    """A text longer than the encoder's window is tagged through windows, without transformers' length warning."""
    text = " ".join(["Angela Merkel visited Paris and met Emmanuel Macron ."] * 120)  # ~1,100 words
    proc = subprocess.run([sys.executable, "-m", "spandec.cli", "predict", str(CHECKPOINTS / "token"), "--text", text],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1"))
    assert proc.returncode == 0 and "Token indices sequence length" not in proc.stderr
    entities = json.loads(proc.stdout)["entities"]
    assert sum(e["label"] == "PER" for e in entities) >= 200  # both people in every repeat, across windows


def test_predict_text(capsys) -> None:
    """The shipped SF-SpanDec model finds the people and the place, with exact character offsets."""
    text = "Angela Merkel met Emmanuel Macron in Paris ."
    code, out, _ = run(capsys, "predict", CHECKPOINTS / "sf-spandec", "--text", text)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1 and rows[0]["text"] == text
    found = [(e["span"], e["label"]) for e in rows[0]["entities"]]
    assert found == [("Angela Merkel", "PER"), ("Emmanuel Macron", "PER"), ("Paris", "LOC")]
    for e in rows[0]["entities"]:
        assert text[e["char_start_index"] : e["char_end_index"]] == e["span"]
    code, out, _ = run(capsys, "predict", CHECKPOINTS / "sf-spandec", "--text", text, "--all-spans")
    spans = {(e["word_start_index"], e["word_end_index"]) for e in json.loads(out)["entities"]}
    assert {(0, 2), (3, 5), (6, 7)} <= spans  # every span over the threshold, the flat entities among them


def trained_model_predictions(model: Path, texts: list[str]) -> list[list[dict]]:
    """What the library predicts for ``texts`` (the CLI must write exactly that)."""
    from spandec import load_model

    return load_model(model, device="cpu").predict_batch(texts)


def test_predict_round_trip(capsys, tmp_path) -> None:
    """predict's JSONL reads back exactly (U+2028 inside a text, multi-word tokens); CoNLL output refuses what
    CoNLL cannot hold, naming the record; non-string tokens are rejected with file:line."""
    model = CHECKPOINTS / "token"
    src = tmp_path / "in.jsonl"
    texts = [{"text": "Rome\u2028is in Italy ."}, {"tokens": ["New York", "is", "big"]}]
    src.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run(capsys, "predict", model, "--file", src, "--output", out)[0] == 0
    from spandec.inputs import read_inputs, read_jsonl_inputs

    assert read_jsonl_inputs(out) == ["Rome\u2028is in Italy .", ["New York", "is", "big"]]
    assert read_inputs(out).items == read_inputs(src).items
    code, _, err = run(capsys, "predict", model, "--file", src, "--output", tmp_path / "o.conll", "--output-format", "conll")
    assert code == 2 and error_line(err) == (f"spandec predict: error: {src}: cannot write CoNLL: record 2, word 1: "
                                             "'New York' holds whitespace (it would read back as several words); "
                                             "use JSONL for such tokens")
    assert not (tmp_path / "o.conll").exists()
    src.write_text(json.dumps({"tokens": ["Paris", "is", "nice"]}) + "\n")
    code, _, _ = run(capsys, "predict", model, "--file", src, "--output", tmp_path / "o.conll", "--output-format", "conll")
    from spandec.data import read_conll

    back = read_conll(tmp_path / "o.conll")
    assert code == 0 and back[0].words == ["Paris", "is", "nice"] and back[0].tags == ["B-LOC", "O", "O"]
    src.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"tokens": [None, 5]}) + "\n")
    code, _, err = run(capsys, "predict", model, "--file", src)
    assert code == 2 and error_line(err) == f"spandec predict: error: {src}:2: token 1 is null, not a string"


def test_predict_files(trained_model, capsys, tmp_path) -> None:
    model = trained_model / "best"
    txt = tmp_path / "in.txt"
    txt.write_text("Pedro moved to Lisbon .\n\n  \nSony released a Japanese version of the game .\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, stdout, _ = run(capsys, "predict", model, "--file", txt, "--output", out)
    assert code == 0 and stdout == ""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Pedro moved to Lisbon .", "Sony released a Japanese version of the game ."]
    assert [r["entities"] for r in rows] == trained_model_predictions(model, [r["text"] for r in rows])

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        json.dumps({"text": "Omar Haddad flew from Cairo to Rome yesterday ."}) + "\n\n"
        + json.dumps({"tokens": ["Heavy", "rain", "hit", "Mumbai"]}) + "\n"
        + json.dumps("Olivia Grant joined Harbor Bank .") + "\n", encoding="utf-8")
    code, stdout, _ = run(capsys, "predict", model, "--file", jsonl, "--all-spans")
    assert code == 0
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert len(rows) == 3
    assert rows[0]["text"].startswith("Omar") and rows[1]["tokens"] == ["Heavy", "rain", "hit", "Mumbai"]
    assert rows[2]["text"] == "Olivia Grant joined Harbor Bank ."
    for e in rows[1]["entities"]:
        assert 0 <= e["word_start_index"] < e["word_end_index"] <= 4

    code, stdout, _ = run(capsys, "predict", model, "--file", OVERFIT)  # CoNLL input: pre-split words
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0 and len(rows) == 20 and rows[0]["tokens"][:2] == ["Maria", "Lopez"]


# ----- errors: exit code 2, one clear line, no traceback ----------------------------------------

def test_error_missing_file(capsys, tmp_path, tiny_encoder, trained_model) -> None:
    missing = tmp_path / "nope.conll"
    code, _, err = run(capsys, "stats", missing)
    assert code == 2 and error_line(err) == f"spandec stats: error: {missing}: no such file"
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "predict", trained_model / "best", "--file", missing)
    assert code == 2 and str(missing) in error_line(err) and "spandec predict: error" in error_line(err)
    code, _, err = run(capsys, "train", "--strategy", "token", "--train", missing, "--output", tmp_path / "o",
                       "--encoder", tiny_encoder)
    assert code == 2 and str(missing) in error_line(err) and error_line(err).startswith("spandec train: error:")
    code, _, err = run(capsys, "evaluate", tmp_path / "no-model", OVERFIT)
    assert code == 2 and str(tmp_path / "no-model") in error_line(err)


def test_predict_refuses_folders_before_reading_them(capsys, tmp_path, trained_model, monkeypatch) -> None:
    """A folder given as input or model that is no dataset / no model (say "..") is refused in one line before
    anything walks it (the job's fingerprint used to walk the whole tree first: "..", from /tmp, reached /proc)."""
    import spandec.stream

    monkeypatch.setattr(spandec.stream, "_fingerprint", lambda path: pytest.fail(f"walked {path} before checking it"))
    tree = tmp_path / "tree"
    (tree / "deep" / "er").mkdir(parents=True)
    (tree / "deep" / "er" / "notes.txt").write_text("Kofi lives in Accra .\n")
    text = tmp_path / "t.txt"
    text.write_text("Kofi lives in Accra .\n")
    code, _, err = run(capsys, "predict", trained_model / "best", "--file", tree)
    assert code == 2 and error_line(err) == f"spandec predict: error: {tree}: a folder, but not a dataset saved with save_to_disk"
    code, _, err = run(capsys, "predict", tree, "--file", text)
    assert code == 2 and error_line(err) == f"spandec predict: error: {tree}: no config.json; not a spandec model folder"
    assert len(err.strip().splitlines()) == 1


def test_error_bad_conll(capsys, tmp_path, tiny_encoder) -> None:
    bad = FIXTURES / "bad_tag.txt"
    code, _, err = run(capsys, "train", "--strategy", "spandec", "--train", bad, "--output", tmp_path / "o",
                       "--encoder", tiny_encoder)
    assert code == 2
    assert error_line(err).startswith(f"spandec train: error: {bad}:3: invalid tag 'X-PER'")
    few = FIXTURES / "too_few_columns.txt"
    code, _, err = run(capsys, "stats", few)
    assert code == 2 and error_line(err).startswith(f"spandec stats: error: {few}:5: expected at least 2 columns")
    assert len(err.strip().splitlines()) == 1


def test_error_bad_jsonl(capsys, tmp_path, trained_model) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine"}) + "\n{not json\n")
    code, _, err = run(capsys, "predict", trained_model / "best", "--file", bad)
    assert code == 2 and error_line(err).startswith(f"spandec predict: error: {bad}:2: not valid JSON")
    bad.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"words": ["a"]}) + "\n")
    code, _, err = run(capsys, "predict", trained_model / "best", "--file", bad)
    assert code == 2 and error_line(err).startswith(f"spandec predict: error: {bad}:2: expected an object")


def test_error_unknown_strategy(capsys, tmp_path, trained_model) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--strategy", "crf", "--train", str(OVERFIT), "--output", str(tmp_path / "o")])
    assert exc.value.code == 2
    line = error_line(capsys.readouterr().err)
    assert line.startswith("spandec train: error: argument --strategy: invalid choice: 'crf'")
    # a saved model of an unknown type
    folder = tmp_path / "weird"
    folder.mkdir()
    config = json.loads((trained_model / "best" / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": "crf"}))
    code, _, err = run(capsys, "predict", folder, "--text", "Hello there")
    assert code == 2 and error_line(err).startswith("spandec predict: error: unknown model type 'crf'")
    assert len(err.strip().splitlines()) == 1


def test_errors_in_a_real_process(tmp_path) -> None:
    """The console entry point itself: exit status 2 and a single stderr line."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore")
    bad = FIXTURES / "bad_tag.txt"
    proc = subprocess.run([sys.executable, "-m", "spandec.cli", "stats", str(bad)], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"spandec stats: error: {bad}:3: invalid tag 'X-PER' (expected O, B-TYPE, I-TYPE, E-TYPE, S-TYPE) for scheme auto"
    ]
    assert proc.stdout == ""


def test_train_init_from(capsys, tmp_path, trained_model) -> None:
    """--init-from continues from a trained model's weights (here at lr 0: they come out unchanged)."""
    from safetensors.torch import load_file

    out = tmp_path / "continued"
    code, _, err = run(capsys, "train", "--strategy", "sf-spandec", "--train", OVERFIT, "--output", out,
                       "--init-from", trained_model / "best", "--max-steps", "1", "--batch-size", "4",
                       "--per-device-batch-size", "4", "--lr", "0", "--quiet")
    assert code == 0, err
    before = load_file(str(trained_model / "best" / "model.safetensors"))
    after = load_file(str(out / "last" / "model.safetensors"))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k].float(), after[k].float()) for k in before)
    assert json.loads((out / "last" / "config.json").read_text())["max_span_words"] == 4  # the model's own config


def test_train_init_from_new_labels(capsys, tmp_path, trained_model) -> None:
    """Transfer to a new label set: every weight kept, rows of shared labels copied, new rows fresh."""
    from safetensors.torch import load_file

    other = tmp_path / "other.conll"
    other.write_text("Paris B-CITY\nis O\nin O\nFrance B-LOC\n\nMaria B-PER\nLopez I-PER\n\n")
    out = tmp_path / "y"
    code, out_text, err = run(capsys, "train", "--strategy", "sf-spandec", "--train", other, "--output", out,
                              "--init-from", trained_model / "best", "--max-steps", "1", "--batch-size", "2",
                              "--per-device-batch-size", "2", "--lr", "0", "--quiet")
    assert code == 0, err
    assert "labels LOC, MISC, ORG, PER -> CITY, LOC, PER; new output rows: CITY" in err
    assert json.loads(out_text.strip().splitlines()[-1])["init_labels"] == ["LOC", "MISC", "ORG", "PER"]
    config = json.loads((out / "last" / "config.json").read_text())
    assert config["labels"] == ["CITY", "LOC", "PER"] and config["max_span_words"] == 4
    before = load_file(str(trained_model / "best" / "model.safetensors"))
    after = load_file(str(out / "last" / "model.safetensors"))
    assert before.keys() == after.keys()
    for key in before:
        if key.startswith("classifier."):  # rows: O LOC MISC ORG PER -> O CITY LOC PER
            assert after[key].shape[0] == 4
            for new, old in ((0, 0), (2, 1), (3, 4)):
                assert torch.equal(after[key][new].float(), before[key][old].float())
            assert not torch.equal(after[key][1].float(), before[key][2].float())
        else:
            assert torch.equal(before[key].float(), after[key].float()), key
    deeper = tmp_path / "deeper"  # Table 8 depth from the trained model, on a 7-sentence sample
    code, out_text, err = run(capsys, "train", "--strategy", "sf-spandec", "--train", OVERFIT, "--output", deeper,
                       "--sample-train-sentences", "7", "--dev", OVERFIT, "--sample-dev-sentences", "3",
                       "--init-from", trained_model / "best", "--encoder-layers", "1", "--decoder-layers", "2",
                       "--max-steps", "1", "--batch-size", "2", "--per-device-batch-size", "2", "--lr", "0", "--quiet")
    assert code == 0, err
    assert "encoder 2 -> 1 layers, decoder 1 -> 2 layers (1 new identity layer)" in err
    summary = json.loads(out_text.strip().splitlines()[-1])
    assert (summary["train_sentences"], summary["dev_sentences"], summary["train_sample_seed"]) == (7, 3, 42)
    config = json.loads((deeper / "last" / "config.json").read_text())
    assert (config["encoder_layers"], config["decoder_layers"], config["encoder_config"]["num_hidden_layers"]) == (1, 2, 1)
    after = load_file(str(deeper / "last" / "model.safetensors"))
    assert not any(k.startswith("encoder.encoder.layer.1.") for k in after)
    for key in before:
        if not key.startswith("encoder.encoder.layer.1."):
            assert torch.equal(before[key].float(), after[key].float()), key
    assert not after["decoder.1.out.weight"].any() and after["decoder.1.query.weight"].any()
    code, _, err = run(capsys, "train", "--strategy", "sf-spandec", "--train", OVERFIT, "--output", tmp_path / "w",
                       "--init-from", trained_model / "best", "--encoder-layers", "3")
    assert code == 2 and "cannot keep 3" in error_line(err)
    code, _, err = run(capsys, "train", "--strategy", "token", "--train", other, "--output", tmp_path / "z",
                       "--init-from", trained_model / "best")
    assert code == 2 and "a sf-spandec model cannot be trained on as token" in error_line(err)


def test_train_spandec_into_sf_spandec(capsys, tmp_path, trained_model) -> None:
    """--init-from a SpanDec model as SF-SpanDec: every trained weight kept, a fresh span-filter head added."""
    from safetensors.torch import load_file

    from spandec.models.auto import load_model

    plain = tmp_path / "plain"
    load_model(trained_model / "best").as_strategy("spandec").save_pretrained(plain)
    assert json.loads((plain / "config.json").read_text())["span_filter"] is False
    out = tmp_path / "sf"
    code, _, err = run(capsys, "train", "--strategy", "sf-spandec", "--train", OVERFIT, "--output", out,
                       "--init-from", plain, "--max-steps", "1", "--batch-size", "4",
                       "--per-device-batch-size", "4", "--lr", "0", "--quiet")
    assert code == 0, err
    assert "spandec -> sf-spandec" in err
    before = load_file(str(plain / "model.safetensors"))
    after = load_file(str(out / "last" / "model.safetensors"))
    assert set(after) - set(before) == {"token_head.weight", "token_head.bias"}
    assert all(torch.equal(before[k].float(), after[k].float()) for k in before)
    assert json.loads((out / "last" / "config.json").read_text())["span_filter"] is True
    code, _, err = run(capsys, "train", "--strategy", "pl-marker", "--train", OVERFIT, "--output", tmp_path / "p",
                       "--init-from", plain)
    assert code == 2 and "a spandec model cannot be trained on as pl-marker" in error_line(err)


def test_predict_json_array_tags_each_element(capsys, tmp_path) -> None:
    """A .json file holding one array: each element (string, {"text"} or {"tokens"}) is one text, even across lines;
    a .json that is not an array is refused, naming the file."""
    src = tmp_path / "texts.json"
    items = ["Angela Merkel met\nEmmanuel Macron .", {"text": "Paris\u2028is nice .", "id": "p"}, {"tokens": ["Rome"]}]
    src.write_text(json.dumps(items, indent=2, ensure_ascii=False), encoding="utf-8")
    code, out, _ = run(capsys, "predict", CHECKPOINTS / "token", "--file", src)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r.get("text", r.get("tokens")) for r in rows] == [items[0], items[1]["text"], ["Rome"]]
    assert [r["id"] for r in rows] == [0, "p", 2]
    src.write_text(json.dumps({"text": "one object"}), encoding="utf-8")
    code, _, err = run(capsys, "predict", CHECKPOINTS / "token", "--file", src)
    assert code == 2 and error_line(err).startswith(f"spandec predict: error: {src}: a .json file of texts must be one "
                                                    "JSON array")
    src.write_text(json.dumps(["fine", 5]), encoding="utf-8")
    code, _, err = run(capsys, "predict", CHECKPOINTS / "token", "--file", src)
    assert code == 2 and "element 2: expected an object with a 'text' string" in error_line(err)


def test_no_torchao_kernel_noise() -> None:
    """transformers imports torchao when it is installed; its "Failed to load ..._C_mxfp8..." notes about kernels
    this machine cannot load are not printed by any command."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    bare = subprocess.run([sys.executable, "-c", "import torchao"], capture_output=True, text=True, env=env, timeout=300)
    if bare.returncode or "Failed to load" not in bare.stderr:
        pytest.skip("torchao is missing or loads every kernel here: nothing to silence")
    proc = subprocess.run([sys.executable, "-m", "spandec.cli", "predict", str(CHECKPOINTS / "token"), "--text",
                           "Angela Merkel visited Paris ."], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent, env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["entities"]
    assert "Failed to load" not in proc.stderr and "_C_mxfp8" not in proc.stderr
    assert "Enum subclass" not in proc.stderr


def test_options_a_strategy_does_not_take_are_errors(capsys, tmp_path, tiny_encoder) -> None:
    """A model-shape option for another strategy, and a threshold for a model without a span filter: one line each."""
    import spandec

    code, _, err = run(capsys, "train", "--strategy", "token", "--train", OVERFIT, "--output", tmp_path / "t",
                       "--encoder", tiny_encoder, "--decoder-layers", "2")
    assert code == 2 and "--decoder-layers does not apply to token models" in error_line(err)
    code, _, err = run(capsys, "train", "--strategy", "pl-marker", "--train", OVERFIT, "--output", tmp_path / "t",
                       "--encoder", tiny_encoder, "--threshold", "0.5")
    assert code == 2 and "--threshold does not apply to pl-marker models" in error_line(err)
    spandec.new_model("token", ["LOC", "MISC", "ORG", "PER"], tiny_encoder).save_pretrained(tmp_path / "token")
    code, _, err = run(capsys, "evaluate", tmp_path / "token", OVERFIT, "--threshold", "0.5")
    assert code == 2 and "unknown option 'threshold' for a token model; accepted: batch_size, flat, min_score" in error_line(err)
    code, _, err = run(capsys, "predict", tmp_path / "token", "--text", "Maria lives in Rome .", "--threshold", "0.5")
    assert code == 2 and "unknown option 'threshold' for a token model" in error_line(err)
    code, _, err = run(capsys, "export", tmp_path / "token", tmp_path / "out", "--threshold", "0.5")
    assert code == 2 and "unknown option 'threshold' for a token model" in error_line(err)
