"""``spandec annotations import/export``: every format survives export -> import -> export with the same entities;
Label Studio and doccano files as those tools write them; bad files give one line naming the file and line."""

from __future__ import annotations

import json

import pytest

from spandec.cli import main
from spandec.store import open_store
from spandec.store import projects as P
from spandec.store import queue as Q
from spandec.store.formats import EXPORT_FORMATS, read_corpus

TEXTS = ["Maria Rossi flew to Toronto on Monday .", "Kofi Mensah lives in Accra .", "Nobody was there ."]


@pytest.fixture
def annotated_db(tmp_path) -> str:
    db = str(tmp_path / "a.db")
    store = open_store(db)
    p = P.create_project(store, "src", ["PER", "LOC"])
    P.add_texts(store, p, [P.Doc(t, f"t{k}") for k, t in enumerate(TEXTS)])
    spans = [[("Maria Rossi", "PER"), ("Toronto", "LOC")], [("Kofi Mensah", "PER"), ("Accra", "LOC")], []]
    item = Q.current(store, p, "ann")
    for todo in spans:
        for span, label in todo:
            item, _ = Q.add(store, p, item.annotation_id, "ann", span, label)
        item = Q.accept(store, p, item.annotation_id, "ann")
    store.close()
    return db


def _entities(db: str, project: str) -> list[list]:
    store = open_store(db)
    rows = P.project_annotations(store, P.get_project(store, project))
    store.close()
    return [[r["text"][e["start"]:e["end"]] + "/" + e["label"] for e in r["entities"]] for r in rows]


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_export_import_export_keeps_entities(annotated_db, tmp_path, fmt, capsys):
    ext = {"conll": ".conll", "jsonl": ".jsonl", "label-studio": ".json", "doccano": ".jsonl", "datasets": ""}[fmt]
    first, second = tmp_path / f"first{ext}", tmp_path / f"second{ext}"
    assert main(["annotations", "export", "--db", annotated_db, "--project", "src", "--format", fmt,
                 "--output", str(first)]) == 0
    kind = "doccano" if fmt == "doccano" else "auto"
    assert main(["annotations", "import", str(first), "--db", annotated_db, "--project", "copy", "--kind", kind,
                 "--accept-as", "ann"]) == 0
    assert main(["annotations", "export", "--db", annotated_db, "--project", "copy", "--format", fmt,
                 "--output", str(second)]) == 0
    expected = [["Maria Rossi/PER", "Toronto/LOC"], ["Kofi Mensah/PER", "Accra/LOC"], []]
    assert _entities(annotated_db, "src") == _entities(annotated_db, "copy") == expected
    if fmt != "datasets":
        one, two = first.read_text(), second.read_text()
        if fmt == "label-studio":  # task ids and timestamps differ; the texts and spans do not
            strip = lambda s: [(t["data"]["text"], [r["value"] for a in t["annotations"] for r in a["result"]])
                               for t in json.loads(s)]
            one, two = strip(one), strip(two)
        elif fmt in ("jsonl", "doccano"):
            strip = lambda s: [{k: v for k, v in json.loads(line).items() if k in ("text", "entities", "label")}
                               for line in s.splitlines()]
            one, two = strip(one), strip(two)
        assert one == two


def test_label_studio_and_doccano_files_become_preannotations(tmp_path, capsys):
    ls = [{"id": 7, "data": {"text": "Ada Lovelace met Babbage in London."},
           "annotations": [{"was_cancelled": False, "result": [
               {"value": {"start": 0, "end": 12, "text": "Ada Lovelace", "labels": ["PER"]}, "from_name": "label",
                "to_name": "text", "type": "labels"},
               {"value": {"start": 28, "end": 34, "text": "London", "labels": ["LOC"]}, "from_name": "label",
                "to_name": "text", "type": "labels"}]}]},
          {"id": 8, "data": {"text": "No entities here."}, "predictions": [{"result": []}]}]
    (tmp_path / "ls.json").write_text(json.dumps(ls))
    (tmp_path / "dc.jsonl").write_text(json.dumps({"text": "Grace Hopper lived in Arlington.",
                                                   "label": [[0, 12, "PER"], [22, 31, "LOC"]]}) + "\n")
    db = str(tmp_path / "a.db")
    assert main(["annotations", "import", str(tmp_path / "ls.json"), "--db", db, "--project", "p"]) == 0
    assert main(["annotations", "import", str(tmp_path / "dc.jsonl"), "--db", db, "--project", "p"]) == 0
    assert "imported 1 texts" in capsys.readouterr().out
    store = open_store(db)
    p = P.get_project(store, "p")
    assert p.labels == ["LOC", "PER"]
    first = Q.current(store, p, "ann")  # the imported spans are the draft's starting point
    assert first.model == "import" and [e["label"] for e in first.entities] == ["PER", "LOC"]
    second = Q.accept(store, p, first.annotation_id, "ann")
    third = Q.accept(store, p, second.annotation_id, "ann")
    assert third.source_id == "dc.jsonl:1" or third.text.startswith("Grace")
    assert [third.text[e["start"]:e["end"]] for e in third.entities] == ["Grace Hopper", "Arlington"]
    store.close()


@pytest.mark.parametrize("content, message", [
    ('{"text": "ok"}\n{"text": "bad", "label": [[0, 99, "PER"]]}\n', "bad.jsonl:2: entity offsets 0:99"),
    ('{"text": "ok"}\nnot json\n', "bad.jsonl:2: not valid JSON"),
    ('{"text": "a b c", "label": [[0, 3, "PER"], [2, 5, "LOC"]]}\n', "bad.jsonl:1: entities 0:3 “a b” (PER) and 2:5 “b c” (LOC) overlap in “a b c”"),
])
def test_bad_files_name_file_and_line(tmp_path, capsys, content, message):
    (tmp_path / "bad.jsonl").write_text(content)
    assert main(["annotations", "import", str(tmp_path / "bad.jsonl"), "--db", str(tmp_path / "a.db"),
                 "--project", "p", "--labels", "PER"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("spandec annotations import: error:")


def test_corpus_kinds(tmp_path):
    (tmp_path / "c.txt").write_text("First text.\n\nSecond text.\n")
    (tmp_path / "c.conll").write_text("Maria B-PER\nflew O\n\nAccra B-LOC\n")
    assert [d.source_id for d in read_corpus(tmp_path / "c.txt")] == ["c.txt:1", "c.txt:3"]
    docs = read_corpus(tmp_path / "c.conll")
    assert [(d.text, d.entities) for d in docs] == [("Maria flew", [{"start": 0, "end": 5, "label": "PER"}]),
                                                   ("Accra", [{"start": 0, "end": 5, "label": "LOC"}])]
