"""spandec.evaluation against a Python port of the official conlleval script's chunk counting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import spandec
from spandec.models import PredictStats
from spandec.evaluation import evaluate, score
from spandec.spans import Candidate

OVERFIT = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "overfit.conll"
LABELS = ["LOC", "MISC", "ORG", "PER"]


# ----- conlleval (Perl, version 2004-01-26) ported line by line ---------------------------------

def _split(tag: str) -> tuple[str, str]:
    prefix, sep, typ = tag.partition("-")
    return (prefix, typ) if sep else (tag, "")


def end_of_chunk(prev_tag: str, tag: str, prev_type: str, typ: str) -> bool:
    end = False
    if prev_tag == "E":
        end = True
    if prev_tag == "S":
        end = True
    if prev_tag == "B" and tag == "B":
        end = True
    if prev_tag == "B" and tag == "S":
        end = True
    if prev_tag == "B" and tag == "O":
        end = True
    if prev_tag == "I" and tag == "B":
        end = True
    if prev_tag == "I" and tag == "S":
        end = True
    if prev_tag == "I" and tag == "O":
        end = True
    if prev_tag != "O" and prev_tag != "." and prev_type != typ:
        end = True
    if prev_tag in ("]", "["):  # chunks of length 1
        end = True
    return end


def start_of_chunk(prev_tag: str, tag: str, prev_type: str, typ: str) -> bool:
    start = False
    if tag == "B":
        start = True
    if tag == "S":
        start = True
    if prev_tag == "E" and tag == "E":
        start = True
    if prev_tag == "E" and tag == "I":
        start = True
    if prev_tag == "S" and tag == "E":
        start = True
    if prev_tag == "S" and tag == "I":
        start = True
    if prev_tag == "O" and tag == "E":
        start = True
    if prev_tag == "O" and tag == "I":
        start = True
    if tag != "O" and tag != "." and prev_type != typ:
        start = True
    if tag in ("[", "]"):
        start = True
    return start


def conlleval(lines: list[str], boundary: str = "-X-") -> dict:
    """conlleval's counts and overall/per-type precision, recall, FB1 of ``word ... gold guess`` lines."""
    correct_chunk = found_correct = found_guessed = 0
    per_type: dict[str, list[int]] = {}  # type -> [correct, found_correct, found_guessed]
    in_correct = False
    last_correct, last_correct_type, last_guessed, last_guessed_type = "O", "", "O", ""
    for line in lines + [""]:
        features = line.split()
        if not features or features[0] == boundary:
            features = [boundary, "O", "O"]
        guessed, guessed_type = _split(features[-1])
        correct, correct_type = _split(features[-2])
        first_item = features[0]
        if first_item == boundary:
            guessed = "O"
        end_c = end_of_chunk(last_correct, correct, last_correct_type, correct_type)
        end_g = end_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if in_correct:
            if end_c and end_g and last_guessed_type == last_correct_type:
                in_correct = False
                correct_chunk += 1
                per_type.setdefault(last_correct_type, [0, 0, 0])[0] += 1
            elif end_c != end_g or guessed_type != correct_type:
                in_correct = False
        start_c = start_of_chunk(last_correct, correct, last_correct_type, correct_type)
        start_g = start_of_chunk(last_guessed, guessed, last_guessed_type, guessed_type)
        if start_c and start_g and guessed_type == correct_type:
            in_correct = True
        if start_c:
            found_correct += 1
            per_type.setdefault(correct_type, [0, 0, 0])[1] += 1
        if start_g:
            found_guessed += 1
            per_type.setdefault(guessed_type, [0, 0, 0])[2] += 1
        last_guessed, last_correct = guessed, correct
        last_guessed_type, last_correct_type = guessed_type, correct_type
    if in_correct:
        correct_chunk += 1
        per_type.setdefault(last_correct_type, [0, 0, 0])[0] += 1

    def prf(c: int, fc: int, fg: int) -> dict:
        p = 100.0 * c / fg if fg else 0.0
        r = 100.0 * c / fc if fc else 0.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "correct": c,
                "gold": fc, "guessed": fg}

    result = prf(correct_chunk, found_correct, found_guessed)
    result["per_type"] = {t: prf(*v) for t, v in sorted(per_type.items())}
    return result


# ----- the port itself on textbook cases ------------------------------------------------------

def test_conlleval_port_counts() -> None:
    lines = ["a B-PER B-PER", "b I-PER I-PER", "c O B-LOC", "", "d B-ORG B-ORG", "e I-ORG B-ORG", "f O O"]
    r = conlleval(lines)
    assert (r["correct"], r["gold"], r["guessed"]) == (1, 2, 4)
    # a chunk is closed by the sentence boundary, and a stray I- opens one
    r = conlleval(["a B-PER B-PER", "", "b I-PER I-PER", "c O I-LOC"])
    assert (r["correct"], r["gold"], r["guessed"]) == (2, 2, 3)


# ----- evaluate() vs conlleval ------------------------------------------------------------------

@pytest.fixture(scope="module")
def gold():
    return spandec.read_conll(OVERFIT)


def planned_predictions(sentences) -> list[list[Candidate]]:
    """Gold mentions with a planned error in most sentences."""
    out = []
    for k, s in enumerate(sentences):
        ents = [Candidate(a, b, t, 0.9) for a, b, t in s.entities]
        kind = k % 6
        if kind == 1 and ents:  # wrong type
            ents[0] = ents[0]._replace(label="MISC" if ents[0].label != "MISC" else "ORG")
        elif kind == 2:  # wrong boundary: a multi-word mention shortened, else extended
            multi = [i for i, c in enumerate(ents) if c.end - c.start > 1]
            if multi:
                c = ents[multi[0]]
                ents[multi[0]] = c._replace(end=c.end - 1)
            elif ents and ents[-1].end < len(s.words):
                ents[-1] = ents[-1]._replace(end=ents[-1].end + 1)
        elif kind == 3 and ents:  # missed mention plus a spurious one on the last word (".")
            ents = ents[1:] + [Candidate(len(s.words) - 1, len(s.words), "LOC", 0.5)]
        elif kind == 4:  # a multi-word mention split into two adjacent mentions of the same type
            multi = [i for i, c in enumerate(ents) if c.end - c.start > 1]
            if multi:
                c = ents.pop(multi[0])
                ents += [c._replace(end=c.start + 1), c._replace(start=c.start + 1)]
        out.append(sorted(ents, key=lambda c: c.start))
    return out


def compare(result: dict, path: Path, gold_sentences) -> dict:
    lines = path.read_text(encoding="utf-8").split("\n")
    ref = conlleval(lines)
    for key in ("precision", "recall", "f1"):
        assert result[key] == pytest.approx(ref[key], abs=0.006), key
    assert set(result["per_type"]) <= set(ref["per_type"])
    for typ, scores in result["per_type"].items():
        assert scores["precision"] == pytest.approx(ref["per_type"][typ]["precision"], abs=0.006), typ
        assert scores["recall"] == pytest.approx(ref["per_type"][typ]["recall"], abs=0.006), typ
        assert scores["f1-score"] == pytest.approx(ref["per_type"][typ]["f1"], abs=0.006), typ
        assert scores["support"] == ref["per_type"][typ]["gold"], typ
    assert ref["gold"] == sum(len(s.entities) for s in gold_sentences)
    # the file: "word gold pred", a blank line after each sentence
    rows = [line.split(" ") for line in lines if line]
    assert len(rows) == sum(len(s.words) for s in gold_sentences)
    assert [r[1] for r in rows] == [t for s in gold_sentences for t in s.tags]
    assert [r[0] for r in rows] == [w for s in gold_sentences for w in s.words]
    assert lines.count("") == len(gold_sentences) + 1  # one per sentence, plus the final newline
    return ref


def test_evaluate_matches_conlleval_planned_errors(tiny_encoder, gold, tmp_path, monkeypatch) -> None:
    model = spandec.new_model("token", LABELS, tiny_encoder)
    planned = planned_predictions(gold)

    def fake_candidates(docs, batch_size=8, **options):
        assert [d.words for d in docs] == [s.words for s in gold]
        return planned, PredictStats()

    monkeypatch.setattr(model, "predict_candidates", fake_candidates)
    path = tmp_path / "pred.conll"
    result = evaluate(model, gold, output_conll=path)
    ref = compare(result, path, gold)
    assert 0 < ref["correct"] < ref["gold"] and ref["guessed"] != ref["gold"]  # several errors of each kind
    assert 50 < result["f1"] < 90
    assert result["gold_mentions"] == 41 and result["sentences"] == 20
    assert result["per_type"]["MISC"]["precision"] < 100


@pytest.mark.parametrize("strategy", ["token", "spandec"])
def test_evaluate_matches_conlleval_real_model(tiny_encoder, gold, tmp_path, strategy) -> None:
    """An untrained model: arbitrary (but valid IOB2) predictions."""
    torch.manual_seed(1)
    model = spandec.new_model(strategy, LABELS, tiny_encoder, max_span_words=4)
    with torch.no_grad():  # make the random model predict some entities
        model.classifier.bias[0] -= 2.0
    path = tmp_path / "pred.conll"
    result = evaluate(model, gold, output_conll=path)
    ref = compare(result, path, gold)
    assert ref["guessed"] > 5


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # seqeval averages over no types
def test_score_edge_cases() -> None:
    assert score([["O", "O"]], [["O", "O"]])["f1"] == 0.0
    perfect = score([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    assert (perfect["precision"], perfect["recall"], perfect["f1"]) == (100.0, 100.0, 100.0)
    half = score([["B-PER", "I-PER", "B-LOC"]], [["B-PER", "O", "B-LOC"]])
    assert half["precision"] == 50.0 and half["recall"] == 50.0
    assert half["per_type"]["LOC"]["f1-score"] == 100.0 and half["per_type"]["PER"]["support"] == 1
