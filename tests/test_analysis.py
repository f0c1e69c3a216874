"""Error analysis (spandec.analysis, spandec analyse, the Analyse view's logic): buckets and error kinds on a
hand-made gold file with known answers, disagreements, the filter curve against ``evaluate``, gold formats,
serving configs loaded by the app's spec reader and ``spandec predict --config``, the committee queue order."""

from __future__ import annotations

import json

import pytest

from spandec.analysis import (DIMENSIONS, THRESHOLDS, ModelOutput, analyse, bucket_scores, caps_pattern,
                              committee_disagreement, error_kinds, read_gold, run_models)
from spandec.app import analyse as view
from spandec.app import annotate
from spandec.app.context import AppContext, InputError, Limits
from spandec.app.pool import ModelPool, parse_specs, resolve_specs, specs_from_file
from spandec.data import DataError, Sentence, spans_to_tags
from spandec.evaluation import evaluate, score
from spandec.store import open_store
from spandec.store import projects as P
from spandec.store import queue as Q
from test_app_support import build_tiny_models, model_args, write_gold

# Hand-made gold with known answers (word spans, end exclusive).
GOLD = [
    ("Maria Rossi flew to NEW YORK .", "B-PER I-PER O O B-LOC I-LOC O"),
    ("the eu met in paris .", "O B-ORG O O B-LOC O"),
    ("McDonald opened .", "B-ORG O O"),
    ("Nobody came .", "O O O"),
]
PRED = [  # per sentence: exact, wrong boundary | wrong label, spurious (paris missed) | exact | spurious
    [(0, 2, "PER"), (4, 5, "LOC")],
    [(1, 2, "LOC"), (2, 3, "PER")],
    [(0, 1, "ORG")],
    [(0, 1, "PER")],
]


def _sentences() -> list[Sentence]:
    return [Sentence(w.split(), t.split()) for w, t in GOLD]


def test_caps_patterns():
    assert [caps_pattern(w.split()) for w in ("Maria Rossi", "NEW YORK", "eu", "McDonald", "de Gaulle", "A", "1996")] \
        == ["Title", "UPPER", "lower", "mixed", "mixed", "Title", "no letters"]


def test_buckets_and_kinds_have_known_answers_and_add_up():
    sents = _sentences()
    b = bucket_scores(sents, PRED, seen={"Maria Rossi", "paris"})
    total = b.pop("total")["all"]
    assert (total["support"], total["predicted"], total["correct"]) == (5, 6, 2)
    gold_tags = [s.tags for s in sents]
    pred_tags = [spans_to_tags(len(s.words), p) for s, p in zip(sents, PRED)]
    assert total["f1"] == score(gold_tags, pred_tags)["f1"]  # the same F1 seqeval gives
    counts = lambda dim: {k: (v["support"], v["predicted"], v["correct"]) for k, v in b[dim].items()}
    assert counts("label") == {"LOC": (2, 2, 0), "ORG": (2, 1, 1), "PER": (1, 3, 1)}
    assert b["label"]["PER"]["precision"] == 33.33 and b["label"]["PER"]["recall"] == 100.0
    assert counts("capitalisation") == {"Title": (1, 2, 1), "UPPER": (1, 1, 0), "lower": (2, 2, 0), "mixed": (1, 1, 1)}
    assert counts("entity length") == {"1": (3, 5, 1), "2": (2, 1, 1)}
    assert counts("seen in training") == {"seen": (2, 1, 1), "unseen": (3, 5, 1)}
    assert counts("input length") == {"1-10 words": (5, 6, 2)}
    for dim in DIMENSIONS:  # every dimension's buckets add up to the totals
        assert sum(v["support"] for v in b[dim].values()) == total["support"]
        assert sum(v["predicted"] for v in b[dim].values()) == total["predicted"]
        assert sum(v["correct"] for v in b[dim].values()) == total["correct"]
    unknown = bucket_scores(sents, PRED, seen=None)
    assert list(unknown["seen in training"]) == ["unknown"]
    kinds = [e["kind"] for s, p in zip(sents, PRED) for e in error_kinds(s.entities, p)]
    assert sorted(kinds) == sorted(["wrong boundary", "wrong label", "spurious", "missed", "spurious"])
    assert error_kinds([(4, 6, "LOC")], [(4, 5, "LOC")]) == [{"kind": "wrong boundary", "gold": [4, 6, "LOC"],
                                                             "pred": [4, 5, "LOC"]}]


def test_report_disagreements_order_and_filters():
    sents = _sentences()
    outs = [ModelOutput("X", "token", 0.0, False, flat=PRED),
            ModelOutput("Y", "token", 0.0, False, flat=[sorted(s.entities) for s in sents[:3]] + [[(0, 1, "PER")]])]
    rep = analyse(outs, sents, "hand.conll")
    assert rep["models"]["X"]["error_counts"] == {"missed": 1, "spurious": 2, "wrong label": 1, "wrong boundary": 1}
    assert rep["models"]["Y"]["error_counts"] == {"missed": 0, "spurious": 1, "wrong label": 0, "wrong boundary": 0}
    assert sum(rep["models"]["X"]["error_counts"].values()) == len(rep["models"]["X"]["errors"])
    order = [(d["sentence"], d["wrong"], d["distinct"]) for d in rep["disagreements"]]
    assert order == [(3, 2, 1), (0, 1, 2), (1, 1, 2)]  # sentence 2: both right, left out
    assert [d["sentence"] for d in view.R.filter_disagreements(rep["disagreements"], "ORG", None)] == [1]
    assert [d["sentence"] for d in view.R.filter_disagreements(rep["disagreements"], None, "missed")] == [1]
    html = view.R.disagreement_html(rep["disagreements"][1])
    assert html.index(">gold<") < html.index(">X<") < html.index(">Y<") and "NEW" in html
    md = view.R.markdown(rep)
    assert "| X | 36.36 | 1 | 2 | 1 | 1 |" in md
    json.dumps(rep)  # JSON-able


def test_committee_disagreement():
    a, b = (0, 2, "PER"), (3, 4, "LOC")
    assert committee_disagreement([[a], [a], [a]]) == 0.0
    assert committee_disagreement([[], []]) == 0.0
    assert committee_disagreement([[a], []]) == 1.0
    assert committee_disagreement([[a, b], [a]]) == pytest.approx(1 / 3, abs=1e-6)


def test_gold_formats_read_alike(tmp_path):
    conll = read_gold(write_gold(tmp_path / "gold.conll"))
    text = lambda s: " ".join(s.words)
    ents = lambda s: [(e[0], e[1], e[2]) for e in s.entities]
    jsonl, ls, doccano = tmp_path / "gold.jsonl", tmp_path / "gold.json", tmp_path / "doccano.jsonl"
    rows = []
    for s in conll:
        starts = [sum(len(w) + 1 for w in s.words[:k]) for k in range(len(s.words))]
        rows.append((text(s), [(starts[a], starts[b - 1] + len(s.words[b - 1]), lab) for a, b, lab in s.entities]))
    jsonl.write_text("".join(json.dumps({"text": t, "entities": [{"start": a, "end": b, "label": l} for a, b, l in e]})
                             + "\n" for t, e in rows))
    doccano.write_text("".join(json.dumps({"text": t, "label": [[a, b, l] for a, b, l in e]}) + "\n" for t, e in rows))
    ls.write_text(json.dumps([{"id": k, "data": {"text": t}, "annotations": [{"result": [
        {"type": "labels", "value": {"start": a, "end": b, "labels": [l]}} for a, b, l in e]}]}
        for k, (t, e) in enumerate(rows)]))
    for path in (jsonl, doccano, ls):
        got = read_gold(path)
        assert [text(s) for s in got] == [text(s) for s in conll]
        assert [ents(s) for s in got] == [ents(s) for s in conll]
    plain = tmp_path / "plain.txt"
    plain.write_text("Maria Rossi flew to Toronto .\n")
    with pytest.raises(DataError, match="plain.txt: a plain text file has no gold entities"):
        read_gold(plain)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"text": "Nobody was there ."}) + "\n")
    with pytest.raises(DataError, match="no gold entities"):
        read_gold(empty)


@pytest.fixture(scope="module")
def tiny_paths(tiny_encoder, tmp_path_factory):
    return build_tiny_models(tiny_encoder, tmp_path_factory.mktemp("analysis-models"))


def test_filter_curve_matches_evaluate(tiny_paths, one_thread, tmp_path):
    from spandec.models import load_model

    sents = read_gold(write_gold(tmp_path / "gold.conll", repeat=2))
    sf, token = load_model(tiny_paths["sf-spandec"], device="cpu"), load_model(tiny_paths["token"], device="cpu")
    sf.config.threshold = 0.5
    outs = run_models([("SF", sf, tiny_paths["sf-spandec"]), ("Token", token, None)], sents, chunk=5)
    rep = analyse(outs, sents, "gold.conll", {"SF": {t: 1.0 for t in THRESHOLDS}})
    curve = rep["filter"][0]
    assert curve["model"] == "SF" and len(rep["filter"]) == 1 and [p["threshold"] for p in curve["points"]] == list(THRESHOLDS)
    at = {p["threshold"]: p for p in curve["points"]}
    for t in (0.0, 0.3, 0.5):  # re-scored without the model == the model's own prediction, scored by evaluate
        assert at[t]["f1"] == evaluate(sf, sents, threshold=t)["f1"]
    assert rep["models"]["SF"]["f1"] == evaluate(sf, sents)["f1"]  # the default threshold
    assert rep["models"]["Token"]["f1"] == evaluate(token, sents)["f1"]
    assert at[0.0]["gold_kept"] == 100.0 and at[0.0]["decoded"] == 100.0
    kept = [p["gold_kept"] for p in curve["points"]]
    assert kept == sorted(kept, reverse=True)  # a higher threshold never keeps more
    lost_at_default = sum(1 for x in curve["lost"])
    assert lost_at_default == round((100 - at[0.5]["gold_kept"]) * curve["gold"] / 100)
    assert "unknown" in rep["models"]["SF"]["training_data"]  # a tiny model's folder names no training set


def test_cli_analyse_and_predict_with_exported_config(tiny_paths, tmp_path, capsys):
    from spandec.cli import main

    gold = write_gold(tmp_path / "gold.conll")
    out = tmp_path / "report"
    assert main(["analyse", f"Token={tiny_paths['token']}", f"SF={tiny_paths['sf-spandec']}", "--gold", str(gold),
                 "--output", str(out), "--quiet", "--speed-sample", "2"]) == 0
    rep = json.loads((out / "analysis.json").read_text())
    assert set(rep["models"]) == {"Token", "SF"} and rep["filter"][0]["points"][0]["ms_per_sentence"] > 0
    assert "Error analysis on gold.conll" in (out / "analysis.md").read_text()
    assert "plotly" in (out / "analysis.html").read_text()[:200000].lower()
    assert "disagreements" in capsys.readouterr().out

    config = tmp_path / "serving.json"
    config.write_text(json.dumps({"models": {"SF": {"path": tiny_paths["sf-spandec"], "threshold": 0.3,
                                                    "precision": "fp32"}}}))
    spec = specs_from_file(config)[0]
    assert (spec.name, spec.threshold, spec.precision) == ("SF", 0.3, "fp32")
    assert resolve_specs(None, str(config)) == [spec]
    assert main(["predict", "--config", str(config), "--text", "Maria Rossi flew to Toronto ."]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "Maria Rossi flew to Toronto ."
    assert main(["predict", tiny_paths["token"], "--config", str(config), "--text", "x"]) == 2
    assert "not both" in capsys.readouterr().err
    config.write_text(json.dumps({"models": {"SF": {"path": tiny_paths["sf-spandec"], "thresold": 0.3}}}))
    with pytest.raises(ValueError, match="unknown option 'thresold'"):
        specs_from_file(config)


@pytest.fixture(scope="module")
def ctx(tiny_paths, tmp_path_factory):
    pool = ModelPool.load(parse_specs(model_args(tiny_paths)), log=lambda m: None)
    return AppContext(pool, limits=Limits(), workdir=tmp_path_factory.mktemp("work"))


def test_view_run_filters_and_export(ctx, tmp_path, one_thread):
    gold = write_gold(tmp_path / "gold.conll")
    with pytest.raises(InputError, match="Upload a gold file"):
        view.run(ctx, None, 0.5)
    rep = view.run(ctx, str(gold), 0.5)
    assert set(rep["models"]) == {"Token", "PL-Marker", "SpanDec", "SF-SpanDec"}
    assert rep["models"]["SpanDec"]["threshold"] == 0.0 and rep["models"]["SF-SpanDec"]["threshold"] == 0.5
    assert [c["model"] for c in rep["filter"]] == ["SF-SpanDec"]  # SpanDec: same weights pinned at 0, no filter
    summary, kinds_fig, kinds_df, filter_fig, lost_df, labels = view.view(rep)
    assert "Analysed **6** sentences" in summary and list(kinds_df["model"]) == list(rep["models"])
    fig, table = view.buckets(rep, "capitalisation")
    assert table["support"].sum() // len(rep["models"]) == rep["gold_entities"]
    choices, note = view.disagreements(rep, "", "")
    assert len(choices) == len(rep["disagreements"]) and "match" in note
    if choices:
        assert "gold" in view.show_disagreement(rep, "", "", choices[0][1])
    with pytest.raises(InputError, match="Unknown error kind"):
        view.disagreements(rep, "", "typo")
    path, note = view.export_config(ctx, rep, "SF-SpanDec", "fp32", 0.3)
    spec = specs_from_file(path)[0]
    assert (spec.name, spec.threshold, spec.precision) == ("SF-SpanDec", 0.3, "fp32") and "F1" in note
    with pytest.raises(InputError, match="Unknown precision"):
        view.export_config(ctx, rep, "SF-SpanDec", "fp64", 0.3)


def test_committee_queue_order(ctx, tmp_path):
    store = open_store(tmp_path / "a.db")
    try:
        corpus = tmp_path / "corpus.txt"
        corpus.write_text("Maria Rossi flew to Toronto .\nKofi Mensah lives in Accra .\nNobody was there .\n")
        annotate.create_project(ctx, store, "c", str(corpus), "PER LOC", annotate.NO_MODEL, 0.5, 1)
        note = annotate.score_uncertainty(ctx, store, "c", annotate.COMMITTEE, 0.5)
        assert "Scored 3 texts" in note and "4 models" in note
        proj = P.get_project(store, "c")
        P.set_uncertainty(store, {1: 0.1, 2: 0.9, 3: 0.4}, score="disagreement")  # known scores
        order = [Q.claim_next(store, proj, f"a{k}", "disagreement").text for k in range(3)]
        assert order == ["Kofi Mensah lives in Accra .", "Nobody was there .", "Maria Rossi flew to Toronto ."]
        v = annotate.open_project(ctx, store, "c", "z", "models disagree most first")
        assert v.status
        with pytest.raises(ValueError, match="unknown text score"):
            P.set_uncertainty(store, {1: 0.5}, score="typo")
    finally:
        store.close()


def test_a_0001_database_gains_the_disagreement_column(tmp_path):
    import sqlite3

    from alembic import command

    from spandec.store.db import _alembic_config

    path = tmp_path / "old.db"
    store = open_store(path)
    P.add_texts(store, P.create_project(store, "old", ["PER"]), [P.Doc("Maria Rossi .", "t0")])
    with store.tx() as conn:
        command.downgrade(_alembic_config(conn), "0001")  # as a database made before this change
    store.close()
    cols = lambda: [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(texts)")]
    assert "disagreement" not in cols()
    store = open_store(path)  # migrated on open, the text kept
    try:
        assert "disagreement" in cols()
        proj = P.get_project(store, "old")
        assert Q.claim_next(store, proj, "ann", "disagreement").text == "Maria Rossi ."
    finally:
        store.close()
