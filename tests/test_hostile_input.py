"""Hostile names and texts: project names that try to be paths, upload names that try to escape the work folder,
line-break characters that try to split records, entities a format cannot hold, and uploads over the caps."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from spandec.app import annotate
from spandec.app import batch as app_batch
from spandec.app.context import AppContext, InputError, Limits, run_model
from spandec.app.pool import ModelPool, parse_specs
from spandec.cli import main
from spandec.data import DataError, split_lines
from spandec.formats import file_stem, json_text
from spandec.inputs import read_inputs
from spandec.store import open_store
from spandec.store.db import now
from spandec.store import projects as P
from spandec.store.formats import EXPORT_FORMATS, EXPORT_SUFFIXES, read_corpus, write_annotations
from spandec.store.schema import projects as projects_table
from spandec.stream import predict_file
from test_app_support import build_tiny_models, model_args

HOSTILE_NAMES = ["..", ".", "../../etc", "a/b", "a\\b", "/abs", "C:evil", "nul\x00byte", "line\nbreak", "tab\tname",
                 "\u202eoverride", ".hidden", "x" * 300, "   ", "", "zero\u200bwidth", "sep\u2028line", "*?<>|"]
HOSTILE_FILES = ["...txt", ".hidden.txt", "-rf.txt", "a b;rm -rf.txt", "%2e%2e%2f.txt", "\u202etxt.exe.txt",
                 "CON.txt", "x" * 200 + ".txt", "ünïcödé.txt", "new\nline.txt", "quote'\".txt", "$(id).txt"]
BREAKS = "Maria Rossi\u2028met\u2029Kofi Mensah\x85in\fAccra\tand\r\nToronto ."


@pytest.fixture(scope="module")
def ctx(tiny_encoder, tmp_path_factory):
    paths = build_tiny_models(tiny_encoder, tmp_path_factory.mktemp("hostile-models"))
    pool = ModelPool.load(parse_specs(model_args(paths)[-1:]), log=lambda m: None)
    root = tmp_path_factory.mktemp("hostile-root")
    return AppContext(pool, limits=Limits(max_upload_texts=20), workdir=root / "work")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_project_names_are_refused(tmp_path, name):
    store = open_store(tmp_path / "a.db")
    try:
        with pytest.raises(ValueError, match="project name|name the project|Give the project a name"):
            P.create_project(store, name, ["PER"])
        assert P.list_projects(store) == []
    finally:
        store.close()


def test_plain_names_are_kept():
    assert P.check_project_name("  Walk news (2024) – été  ") == "Walk news (2024) – été"
    assert [file_stem(n) for n in ["..", ".", "", "../x", "ok name", "Ｎｅｗｓ"]] == [
        "project", "project", "project", "_x", "ok_name", "News"]


def test_every_written_file_stays_under_the_work_folder(ctx, tmp_path):
    """Projects that slipped in with hostile names (an older database) and uploads with hostile file names: every
    file the app writes lands in that request's own folder under the work folder; zips hold only their export."""
    root = ctx.workdir.parent
    store = open_store(tmp_path / "a.db")
    with store.tx() as c:  # names an older spandec accepted: written straight into the table
        for k, name in enumerate(HOSTILE_NAMES):
            c.execute(projects_table.insert().values(name=name or f"empty{k}", labels=["PER", "LOC"], overlap=1,
                                                     created_at=now()))
    before = _files(root)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    written: set[Path] = set()
    for name in HOSTILE_NAMES:
        project = P.get_project(store, name or f"empty{HOSTILE_NAMES.index(name)}")
        P.add_texts(store, project, [P.Doc("Maria Rossi flew to Toronto .", "t1")], accept_as="ann")
        for fmt in EXPORT_FORMATS:
            path, _ = annotate.export(ctx, store, project.name, fmt, "", ["accepted"])
            path = Path(path).resolve()
            assert path.is_relative_to(ctx.workdir.resolve()) and path.parent.parent == ctx.workdir.resolve()
            assert path.parent not in {p.parent for p in written}, "each request gets its own folder"
            written.add(path)
            if fmt == "datasets":
                folder = path.with_suffix("")  # the zip holds exactly the saved dataset, nothing of other requests
                assert sorted(n for n in zipfile.ZipFile(path).namelist() if not n.endswith("/")) == sorted(
                    str(f.relative_to(folder)) for f in _files(folder))
    for name in HOSTILE_FILES:
        up = uploads / name
        up.write_text("Kofi Mensah lives in Accra .\n", encoding="utf-8")
        files, _, _, _ = app_batch.tag_file(ctx, str(up), "SF-SpanDec", 0.5)
        for f in files:
            f = Path(f).resolve()
            assert f.is_relative_to(ctx.workdir.resolve()) and f.parent.parent == ctx.workdir.resolve()
            assert not f.name.startswith(".")
            written.add(f)
    store.close()
    new = _files(root) - before
    assert new and all(p.resolve().is_relative_to(ctx.workdir.resolve()) for p in new)
    assert len({p.parent for p in written}) == len(HOSTILE_NAMES) * len(EXPORT_FORMATS) + len(HOSTILE_FILES)


def test_create_project_refuses_bad_names_and_uploads_over_the_caps(ctx, tmp_path):
    store = open_store(tmp_path / "a.db")
    try:
        corpus = tmp_path / "c.txt"
        corpus.write_text("".join(f"Text {k} .\n" for k in range(21)), encoding="utf-8")  # cap: 20 texts
        with pytest.raises(InputError, match="start with a dot"):
            annotate.create_project(ctx, store, "..", str(corpus), "PER", annotate.NO_MODEL, 0.5, 1)
        with pytest.raises(InputError, match=r"c\.txt holds 21 texts; the app takes at most 20"):
            annotate.create_project(ctx, store, "big", str(corpus), "PER", annotate.NO_MODEL, 0.5, 1)
        with pytest.raises(InputError, match=r"holds 21 texts; the app takes at most 20"):
            app_batch.read_upload(str(corpus), ctx.limits)  # the same rule for tagging a file
        corpus.write_text("x" * (ctx.limits.max_upload_bytes + 1), encoding="utf-8")
        with pytest.raises(InputError, match="the app takes files up to"):
            annotate.create_project(ctx, store, "huge", str(corpus), "PER", annotate.NO_MODEL, 0.5, 1)
        assert P.list_projects(store) == []
    finally:
        store.close()


def test_threshold_zero_pre_annotates_at_zero(ctx, tmp_path):
    store = open_store(tmp_path / "a.db")
    try:
        corpus = tmp_path / "c.txt"
        text = "Maria Rossi flew to Toronto on Monday with Kofi Mensah ."
        corpus.write_text(text + "\n", encoding="utf-8")
        annotate.create_project(ctx, store, "zero", str(corpus), "PER LOC ORG MISC", "SF-SpanDec", 0.0, 1)
        v = annotate.open_project(ctx, store, "zero", "ann", "corpus order")
        at = {t: sorted((e["char_start_index"], e["char_end_index"], e["label"])
                        for e in run_model(ctx, "SF-SpanDec", text, t)[0]) for t in (0.0, 0.5)}
        assert at[0.0] != at[0.5], "the tiny model must tell the thresholds apart for this test to mean anything"
        assert sorted((r[2], r[3], r[1]) for r in v.rows) == at[0.0]
    finally:
        store.close()


# ----- one line rule ------------------------------------------------------------------------------------------
def test_one_line_rule_for_readers_and_writers(tmp_path):
    assert split_lines("a\u2028b\r\nc\x85d\fe\rf\n\n") == ["a\u2028b", "c\x85d\fe\rf", "", ""]
    line = json_text({"text": "a\u2028b\u2029c\x85d"})
    assert "\u2028" not in line and "\u2029" not in line and "\x85" not in line and len(line.splitlines()) == 1
    assert json.loads(line) == {"text": "a\u2028b\u2029c\x85d"}
    txt = tmp_path / "t.txt"
    txt.write_bytes("one\u2028two\x85three\fend\r\nsecond line\n".encode())
    docs = read_corpus(txt)  # .txt import and predict --file agree: split on "\n" only, CRLF's "\r" dropped
    assert [d.text for d in docs] == read_inputs(txt).items == ["one\u2028two\x85three\fend", "second line"]
    raw = tmp_path / "raw.jsonl"  # a valid JSON line with raw U+2028 / U+0085 inside a string
    raw.write_bytes(('{"text": "Rome\u2028is\x85nice", "label": [[0, 4, "LOC"]]}\r\n').encode())
    assert [(d.text, d.entities) for d in read_corpus(raw, "doccano")] == [
        ("Rome\u2028is\x85nice", [{"start": 0, "end": 4, "label": "LOC"}])]


def test_failed_parquet_write_leaves_nothing_that_blocks_the_rerun(tiny_encoder, tmp_path):
    paths = build_tiny_models(tiny_encoder, tmp_path / "m")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json_text({"text": t}) + "\n" for t in [BREAKS, "Rome\u2028is nice ."]), encoding="utf-8")
    out = tmp_path / "out.parquet"
    out.mkdir()  # the final rename fails: a folder is in the way
    (out / "x").write_text("x")
    with pytest.raises(OSError):
        predict_file(paths["token"], str(src), str(out), progress=False)
    assert not (tmp_path / "out.parquet.tmp").exists()
    assert json.loads((tmp_path / "out.parquet.parts" / "manifest.json").read_text())["done"] == {"0": [2, 0]}
    (out / "x").unlink()
    out.rmdir()
    summary = predict_file(paths["token"], str(src), str(out), progress=False)  # the rerun reuses the shards
    assert summary["tagged"] == 2 and out.is_file()
    assert not (tmp_path / "out.parquet.parts").exists() and not (tmp_path / "out.parquet.tmp").exists()
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("text").to_pylist() == [BREAKS, "Rome\u2028is nice ."]


# ----- exports keep every entity or name it ----------------------------------------------------------------
def _db_with(tmp_path: Path, texts: list[tuple[str, list[tuple[str, str]]]], name: str = "src") -> str:
    db = str(tmp_path / "a.db")
    store = open_store(db)
    p = P.create_project(store, name, ["PER", "LOC", "MISC"])
    docs = []
    for k, (text, ents) in enumerate(texts):
        spans, pos = [], 0
        for span, label in ents:
            s = text.index(span, pos)
            spans.append({"start": s, "end": s + len(span), "label": label})
            pos = s + len(span)
        docs.append(P.Doc(text, f"t{k}", spans))
    P.add_texts(store, p, docs, accept_as="ann")
    store.close()
    return db


def _entities(db: str, project: str) -> list[list[str]]:
    store = open_store(db)
    rows = P.project_annotations(store, P.get_project(store, project))
    store.close()
    return [[r["text"][e["start"]:e["end"]] + "/" + e["label"] for e in r["entities"]] for r in rows]


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_line_breaks_survive_export_import_export_in_every_format(tmp_path, fmt, capsys):
    texts = [(BREAKS, [("Maria Rossi", "PER"), ("Kofi Mensah", "PER"), ("Accra", "LOC"), ("Toronto", "LOC")]),
             ("Rome\u2028is\u2029in\x85Italy\f.", [("Rome", "LOC"), ("Italy", "LOC")]),
             ("Tabs\tand\r\nCRLF\r\nin Paris", [("Paris", "LOC")])]
    db = _db_with(tmp_path, texts)
    ext = EXPORT_SUFFIXES[fmt]
    first, second = tmp_path / f"first{ext}", tmp_path / f"second{ext}"
    assert main(["annotations", "export", "--db", db, "--project", "src", "--format", fmt, "--output", str(first)]) == 0
    kind = "doccano" if fmt == "doccano" else "auto"
    assert main(["annotations", "import", str(first), "--db", db, "--project", "copy", "--kind", kind,
                 "--accept-as", "ann"]) == 0
    assert main(["annotations", "export", "--db", db, "--project", "copy", "--format", fmt,
                 "--output", str(second)]) == 0
    assert _entities(db, "src") == _entities(db, "copy") == [[f"{s}/{lab}" for s, lab in ents] for _, ents in texts]
    if fmt in ("jsonl", "doccano", "label-studio"):  # the text itself survives too
        store = open_store(db)
        assert [r["text"] for r in P.project_annotations(store, P.get_project(store, "copy"))] == [t for t, _ in texts]
        store.close()
    if fmt != "datasets":
        raw = first.read_text(encoding="utf-8")
        assert not set("\u2028\u2029\x85") & set(raw)


@pytest.mark.parametrize("fmt", ["conll", "datasets"])
def test_word_formats_name_the_entity_they_cannot_hold(tmp_path, fmt):
    db = _db_with(tmp_path, [("Kofi Mensah lives in Accra .", [("Kofi Mensah", "PER")]),
                             ("A New York-based firm .", [("New York", "LOC")])])
    out = tmp_path / f"out{EXPORT_SUFFIXES[fmt]}"
    store = open_store(db)
    rows = P.project_annotations(store, P.get_project(store, "src"))
    store.close()
    with pytest.raises(DataError, match=r"text 2 \(t1\): entity “New York” \(2-10, LOC\) is part of the word\(s\) "
                                        r"“New York-based”"):
        write_annotations(rows, fmt, out)
    assert not out.exists(), "the whole export stops before anything is written"
    store = open_store(db)
    with pytest.raises(InputError, match=r"^text 2 \(t1\): entity “New York” \(2-10, LOC\) is part of"):
        annotate.export(AppContext(None, workdir=tmp_path / "work"), store, "src", fmt, "", ["accepted"])
    store.close()
    write_annotations(rows, "jsonl", tmp_path / "ok.jsonl")  # formats that hold it keep it
    assert "New York" in (tmp_path / "ok.jsonl").read_text(encoding="utf-8")


def test_overlapping_import_is_refused_naming_text_and_spans(tmp_path, capsys):
    f = tmp_path / "dc.jsonl"
    f.write_text(json.dumps({"text": "Maria Rossi met Kofi", "label": [[0, 11, "PER"], [6, 15, "MISC"]]}) + "\n")
    assert main(["annotations", "import", str(f), "--db", str(tmp_path / "a.db"), "--project", "p",
                 "--kind", "doccano"]) == 2
    err = capsys.readouterr().err
    assert (f"{f}:1: entities 0:11 “Maria Rossi” (PER) and 6:15 “Rossi met” (MISC) overlap in “Maria Rossi met Kofi”"
            in err)


def test_export_to_an_existing_folder_is_a_clear_error(tmp_path, capsys):
    db = _db_with(tmp_path, [("Kofi Mensah lives in Accra .", [("Kofi Mensah", "PER")])])
    folder = tmp_path / "exports"
    folder.mkdir()
    for fmt in ("jsonl", "conll"):
        assert main(["annotations", "export", "--db", db, "--project", "src", "--format", fmt,
                     "--output", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{folder} is a folder; give the path of the {fmt} file to write" in err[0]
    assert not any(folder.iterdir())
