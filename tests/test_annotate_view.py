"""The annotate view's logic (spandec.app.annotate) on a store and a tiny model: a project from an upload,
pre-annotation, select-to-label, export, agreement, uncertainty ordering, and user-facing errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from spandec.app import annotate
from spandec.app.context import AppContext, InputError, Limits
from spandec.app.pool import ModelPool, parse_specs
from spandec.app.span_select import render
from spandec.store import open_store
from test_app_support import build_tiny_models, model_args


@pytest.fixture(scope="module")
def ctx(tiny_encoder, tmp_path_factory):
    paths = build_tiny_models(tiny_encoder, tmp_path_factory.mktemp("ann-view-models"))
    pool = ModelPool.load(parse_specs(model_args(paths)[-1:]), log=lambda m: None)
    return AppContext(pool, limits=Limits(), workdir=tmp_path_factory.mktemp("work"))


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "a.db")
    yield s
    s.close()


def _upload(tmp_path: Path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text("Maria Rossi flew to Toronto .\nKofi Mensah lives in Accra .\nNobody was there .\n")
    return str(path)


def test_project_queue_select_export_and_agreement(ctx, store, tmp_path):
    names, note = annotate.create_project(ctx, store, "news", _upload(tmp_path), "PER, LOC", "SF-SpanDec", 0.0, 2)
    assert names == ["news"] and "3 texts" in note
    with pytest.raises(InputError, match="exists already"):
        annotate.create_project(ctx, store, "news", _upload(tmp_path), "PER", annotate.NO_MODEL, 0.5, 1)
    v = annotate.open_project(ctx, store, "news", "ann", "corpus order")
    assert "Text 1 of 3" in v.status and "pre-annotated by SF-SpanDec" in v.status and v.labels == ["PER", "LOC"]
    for ref in [f"{r[2]}:{r[3]}" for r in v.rows]:  # clear the random model's guesses
        v = annotate.remove(ctx, store, "news", "ann", v.annotation_id, ref)
    v = annotate.select(ctx, store, "news", "ann", v.annotation_id, 2, 8, "PER", "ria Ro")  # -> "Maria Rossi"
    assert v.rows == [["Maria Rossi", "PER", 0, 11]] and 'data-label="PER"' in v.html
    assert "widened to the whole words (0:11)" in v.status  # never silently
    with pytest.raises(InputError, match="does not match the stored text"):  # the page showed other characters
        annotate.select(ctx, store, "news", "ann", v.annotation_id, 20, 27, "LOC", "Toronto!")
    with pytest.raises(InputError, match="overlaps"):
        annotate.select(ctx, store, "news", "ann", v.annotation_id, 6, 15, "LOC")
    with pytest.raises(InputError, match="Select the entity"):
        annotate.select(ctx, store, "news", "ann", v.annotation_id, None, None, "LOC")
    v = annotate.relabel(ctx, store, "news", "ann", v.annotation_id, "0:11", "LOC")
    v = annotate.undo(ctx, store, "news", "ann")
    assert v.rows == [["Maria Rossi", "PER", 0, 11]]
    first = v.text_id
    v = annotate.accept(ctx, store, "news", "ann", first, "corpus order")
    assert "Text 2 of 3" in v.status
    again = annotate.accept(ctx, store, "news", "ann", first, "corpus order")  # a second click on the same text
    assert "already accepted; nothing changed" in again.status and again.text_id == v.text_id
    assert "Text 2 of 3 (draft" in again.status  # the next text was not accepted
    w = annotate.open_project(ctx, store, "news", "bob", "corpus order")  # overlap 2: bob gets text 1 too
    assert "Text 1 of 3" in w.status
    for ref in [f"{r[2]}:{r[3]}" for r in w.rows]:
        w = annotate.remove(ctx, store, "news", "bob", w.annotation_id, ref)
    w = annotate.add(ctx, store, "news", "bob", w.annotation_id, "Maria Rossi", "PER")
    w = annotate.add(ctx, store, "news", "bob", w.annotation_id, "Toronto", "LOC")
    annotate.accept(ctx, store, "news", "bob", w.text_id, "corpus order")
    rows, fig, note = annotate.agreement_view(store, "news")
    table = {r[0]: r for r in rows}
    assert table["PER"][1] == 1.0 and table["LOC"][1] == 0.0 and table["(all)"][1] == round(2 / 3, 4)
    assert "1 texts" in note and fig.data
    path, note = annotate.export(ctx, store, "news", "jsonl", "ann", ["accepted"])
    recs = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert [(e["text"], e["label"]) for e in recs[0]["entities"]] == [("Maria Rossi", "PER")]
    path, _ = annotate.export(ctx, store, "news", "datasets", "", ["accepted"])
    assert path.endswith(".zip")
    with pytest.raises(InputError, match="Nothing to export"):
        annotate.export(ctx, store, "news", "conll", "nobody", ["accepted"])
    with pytest.raises(InputError, match="bob's annotation"):
        annotate.add(ctx, store, "news", "ann", w.annotation_id, "Toronto", "LOC")
    with pytest.raises(InputError, match="You have not opened text id"):  # ann has texts 1 and 2, not 3
        annotate.accept(ctx, store, "news", "ann", first + 2, "corpus order")


def test_uncertainty_order_and_user_errors(ctx, store, tmp_path):
    annotate.create_project(ctx, store, "u", _upload(tmp_path), "PER LOC", annotate.NO_MODEL, 0.5, 1)
    note = annotate.score_uncertainty(ctx, store, "u", "SF-SpanDec", 0.0)
    assert "Scored 3 texts" in note
    v = annotate.open_project(ctx, store, "u", "ann", "most uncertain first")
    assert "started empty" in v.status
    with pytest.raises(InputError, match="Pick a project"):
        annotate.open_project(ctx, store, None, "ann", "corpus order")
    with pytest.raises(InputError, match="Type your name"):
        annotate.open_project(ctx, store, "u", "  ", "corpus order")
    with pytest.raises(InputError, match="no project"):
        annotate.open_project(ctx, store, "missing", "ann", "corpus order")
    with pytest.raises(InputError, match="No text is open"):
        annotate.accept(ctx, store, "u", "ann", None, "corpus order")
    locked = open_store(Path(store.where), timeout=0.2)  # another program holds the write lock
    holder = sqlite3.connect(store.where, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(InputError, match="locked by another program"):
            annotate.add(ctx, locked, "u", "ann", v.annotation_id, "Kofi", "PER")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        locked.close()
    assert annotate.open_project(ctx, store, "u", "ann", "corpus order").rows == []  # nothing was changed


def test_render_escapes_and_marks():
    html = render("<b>Ann</b> & Bob", [{"start": 13, "end": 16, "label": "PER"}], ["PER"])
    assert "&lt;b&gt;Ann&lt;/b&gt; &amp; </span>" in html and 'data-s="13" data-e="16" data-label="PER"' in html
    assert "ann-empty" in render(None, [], [], "nothing")


def test_learn_from_corrections(ctx, store):
    from spandec.app import learn
    from spandec.store import projects as P

    project = P.create_project(store, "learn", ["PER", "LOC"], "SF-SpanDec", 0.0)
    docs = [P.Doc(t, entities=e) for t, e in [
        ("Maria Rossi flew to Toronto .", [[0, 11, "PER"], [20, 27, "LOC"]]),
        ("Kofi Mensah lives in Accra .", [[0, 11, "PER"], [21, 26, "LOC"]]),
        ("The team left Geneva .", [[14, 20, "LOC"]]), ("Aiko met Peter in Kyoto .", [[0, 4, "PER"], [9, 14, "PER"],
                                                                                   [18, 23, "LOC"]]),
        ("Rain in Oslo .", [[8, 12, "LOC"]]), ("Nobody was there .", [])]]
    with pytest.raises(InputError, match="at least 5"):
        learn.start(ctx, store, "learn")
    P.add_texts(store, project, docs, accept_as="ann")
    job = learn.start(ctx, store, "learn", epochs=1, held_out=0.34, max_steps=1)
    assert learn.poll(ctx, store, "learn")[2] or job.proc.poll() is not None
    assert job.proc.wait(300) == 0, job.log.read_text()[-2000:]
    note, rows, running = learn.poll(ctx, store, "learn")
    assert not running and "held-out F1" in note and [r[0] for r in rows] == ["SF-SpanDec", job.version]
    assert rows[0][4] == 2 and job.version in ctx.pool.available and (job.output / "best" / "config.json").is_file()
    assert P.get_project(store, "learn").model == job.version  # the new version pre-annotates from now on
    v = annotate.open_project(ctx, store, "learn", "bob", "corpus order")
    assert v.annotation_id is None  # every text is done already (imported as accepted)
