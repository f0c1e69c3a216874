"""The annotation store against SQLite and a real PostgreSQL server: queue, edits, undo, resume, concurrency,
migrations, and databases that are locked, read-only, damaged or of a newer schema."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from spandec.store import StoreError, open_store
from spandec.store import projects as P
from spandec.store import queue as Q
from spandec.store.agreement import agreement
from store_helpers import PG_MISSING, new_database, postgres_server

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["Maria Rossi flew to Toronto .", "Kofi Mensah lives in Accra .", "The team left Geneva on Monday .",
         "Aiko Tanaka met Peter in Kyoto .", "Nobody was there ."]


@pytest.fixture(scope="session")
def pg_base():
    if PG_MISSING:
        pytest.skip(PG_MISSING)
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "annotations.db")
    return new_database(request.getfixturevalue("pg_base"))


@pytest.fixture
def store(db_url):
    s = open_store(db_url)
    yield s
    s.close()


def _project(store, n=len(TEXTS), **kw):
    p = P.create_project(store, "news", ["PER", "LOC"], **kw)
    P.add_texts(store, p, [P.Doc(TEXTS[k % len(TEXTS)], f"t{k}") for k in range(n)])
    return p


def test_queue_edits_accept_undo_and_resume(store, db_url):
    p = _project(store)
    item = Q.current(store, p, "ann")
    assert (item.position, item.status, item.entities) == (0, "draft", [])
    item, note = Q.add(store, p, item.annotation_id, "ann", "Maria Rossi", "PER")
    assert "Added" in note
    item, _ = Q.add(store, p, item.annotation_id, "ann", (20, 24), "LOC")  # "Toro" snaps to the word "Toronto"
    assert [(e["start"], e["end"], e["label"]) for e in item.entities] == [(0, 11, "PER"), (20, 27, "LOC")]
    with pytest.raises(ValueError, match="overlaps"):
        Q.add(store, p, item.annotation_id, "ann", "Rossi", "LOC")
    with pytest.raises(ValueError, match="not one of this project's labels"):
        Q.add(store, p, item.annotation_id, "ann", "flew", "ORG")
    with pytest.raises(ValueError, match="ann's annotation"):
        Q.add(store, p, item.annotation_id, "eve", "flew", "PER")
    nxt = Q.accept(store, p, item.annotation_id, "ann")
    assert nxt.position == 1
    nxt, _ = Q.add(store, p, nxt.annotation_id, "ann", "Accra", "LOC")  # a draft, left unaccepted
    store.close()

    again = open_store(db_url)  # a restart: the draft and the accepted text are there, the cursor on the draft
    cur = Q.current(again, p, "ann")
    assert (cur.position, cur.status, cur.entities) == (1, "draft", [{"start": 21, "end": 26, "label": "LOC"}])
    back = Q.previous(again, p, cur.annotation_id, "ann")
    assert back.status == "accepted" and len(back.entities) == 2
    assert Q.forward(again, p, back.annotation_id, "ann").annotation_id == cur.annotation_id
    with pytest.raises(ValueError, match="Accept or skip"):
        Q.forward(again, p, cur.annotation_id, "ann")
    undone, note = Q.undo(again, p, "ann")  # undoes the Accra edit
    assert undone.entities == [] and "edit" in note
    undone, note = Q.undo(again, p, "ann")  # undoes the accept of text 1
    assert undone.position == 0 and undone.status == "draft" and "back to draft" in note
    assert P.progress(again, p, "ann")["accepted"] == 0
    skipped = Q.skip(again, p, undone.annotation_id, "ann")  # on to the annotator's next text (the open draft)
    assert skipped.position == 1
    pr = P.progress(again, p, "ann")
    assert (pr["total"], pr["done"], pr["skipped"], pr["draft"]) == (5, 0, 1, 1)
    again.close()


def test_claims_overlap_and_agreement(store):
    p = _project(store, overlap=2)
    a, b = Q.current(store, p, "a"), Q.current(store, p, "b")
    assert a.text_id != b.text_id  # never the same text at the same time
    Q.add(store, p, a.annotation_id, "a", "Maria Rossi", "PER")
    Q.accept(store, p, a.annotation_id, "a")
    b2 = Q.accept(store, p, b.annotation_id, "b")
    assert b2.text_id == a.text_id  # overlap 2: b annotates text 0 too, after a finished it
    Q.add(store, p, b2.annotation_id, "b", "Maria", "PER")
    Q.add(store, p, b2.annotation_id, "b", "Toronto", "LOC")
    Q.accept(store, p, b2.annotation_id, "b")
    rows = {r[0]: r for r in agreement(P.project_annotations(store, p))}
    assert rows["(all)"][1:4] == [0.0, 0, 3] and rows["LOC"][1] == 0.0 and rows["PER"][4] == 1


def test_stale_claims_are_handed_on(store):
    p = _project(store, n=1)
    a = Q.current(store, p, "a")
    assert Q.claim_next(store, p, "b") is None
    b = Q.claim_next(store, p, "b", claim_ttl=0)  # a left it idle longer than the time-out
    assert b.text_id == a.text_id
    with pytest.raises(ValueError, match="handed to another annotator"):
        Q.add(store, p, a.annotation_id, "a", "Maria", "PER", )


def test_claims_match_what_each_annotator_sees(store):
    """Two annotators: an undone accept hands the next text back, a lost claim refuses the accept, a repeated accept
    of the same text accepts nothing new."""
    p = _project(store, n=3)
    a1 = Q.current(store, p, "a")
    a2 = Q.accept(store, p, a1.annotation_id, "a")  # a is handed text 2 ...
    undone, _ = Q.undo(store, p, "a")  # ... and goes back to text 1: text 2 is free again
    assert (undone.text_id, undone.status) == (a1.text_id, "draft")
    b1 = Q.current(store, p, "b")
    assert b1 is not None and b1.text_id == a2.text_id  # not "Nothing left", not text 3 either
    again = Q.accept(store, p, a1.annotation_id, "a")
    assert again.position == 2  # a goes on to text 3, the next free one
    repeat = Q.accept(store, p, a1.annotation_id, "a")  # the same accept again (a double click)
    assert repeat.annotation_id == again.annotation_id and repeat.status == "draft"  # text 3 was not accepted
    assert P.progress(store, p)["done"] == 1
    undone, _ = Q.undo(store, p, "a")  # one undo: the repeat recorded nothing
    assert undone.text_id == a1.text_id and undone.status == "draft"
    Q.accept(store, p, a1.annotation_id, "a")
    # b left text 2 idle past the time-out; c took it: b's accept is refused like an edit, c's counts once
    c2 = Q.claim_next(store, p, "c", claim_ttl=0)
    assert c2.text_id == b1.text_id
    with pytest.raises(ValueError, match="handed to another annotator"):
        Q.accept(store, p, b1.annotation_id, "b")
    Q.accept(store, p, c2.annotation_id, "c")
    with pytest.raises(ValueError, match="handed to another annotator"):  # and after c accepted it, too
        Q.accept(store, p, b1.annotation_id, "b", claim_ttl=0)
    rows = [r for r in P.project_annotations(store, p) if r["text_id"] == b1.text_id]
    assert [(r["annotator"], r["status"]) for r in rows if r["status"] == "accepted"] == [("c", "accepted")]


def test_concurrent_annotators_never_share_or_lose_a_text(store):
    p = _project(store, n=60)
    got: dict[str, list[int]] = {}
    errors = []

    def work(name):
        try:
            seen, item = [], Q.current(store, p, name)
            while item is not None:
                seen.append(item.text_id)
                item = Q.accept(store, p, item.annotation_id, name)
            got[name] = seen
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(f"ann{k}",)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = [t for seen in got.values() for t in seen]
    assert len(ids) == len(set(ids)) == 60
    rows = P.project_annotations(store, p)
    assert len(rows) == 60 and P.progress(store, p)["done"] == 60


def test_migrations_match_the_schema(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from spandec.store.schema import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(capsys, *args: str) -> tuple[int, str]:
    """``spandec annotations ARGS`` in this process: its exit code and stderr."""
    from spandec.cli import main

    capsys.readouterr()
    code = main(["annotations", *args])
    return code, capsys.readouterr().err


@pytest.fixture
def filled_db(tmp_path):
    path = tmp_path / "annotations.db"
    s = open_store(path)
    _project(s, n=2)
    s.close()
    return path


def _one_line_error(result: tuple[int, str], *needles: str) -> None:
    code, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_locked_database_is_reported_and_unchanged(filled_db, capsys):
    holder = sqlite3.connect(filled_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    before = _sha(filled_db)
    with pytest.raises(StoreError, match="locked by another program"):
        open_store(filled_db, timeout=0.2)
    proc = _cli(capsys, "import", str(ROOT / "data" / "examples.txt"), "--project", "news", "--db", str(filled_db),
                "--db-timeout", "0.2")
    _one_line_error(proc, "is locked", "Nothing was changed")
    holder.execute("ROLLBACK")
    holder.close()
    assert _sha(filled_db) == before


@pytest.fixture
def read_only_db(filled_db, tmp_path):
    """The filled database where it cannot be written: a read-only bind mount as root (root ignores file modes),
    file and folder modes otherwise."""
    import os

    if os.geteuid() != 0:
        filled_db.chmod(0o444)
        filled_db.parent.chmod(0o555)
        yield filled_db
        filled_db.parent.chmod(0o755)
        return
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(filled_db.parent), str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot make a read-only bind mount here (needs mount rights as root)")
    try:
        yield mnt / filled_db.name
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_read_only_database_is_reported_and_unchanged(read_only_db, capsys):
    before = _sha(read_only_db)
    with pytest.raises(StoreError, match="read-only"):
        open_store(read_only_db)
    proc = _cli(capsys, "import", str(ROOT / "data" / "examples.txt"), "--project", "news", "--db", str(read_only_db))
    _one_line_error(proc, "read-only", "Nothing was changed")
    assert _sha(read_only_db) == before


def test_damaged_and_foreign_databases(tmp_path, filled_db, capsys):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database\n" * 50)
    with pytest.raises(StoreError, match="damaged or not an SQLite database"):
        open_store(junk)
    assert junk.read_bytes() == b"this is not a database\n" * 50
    torn = tmp_path / "torn.db"  # a valid header, then garbage pages
    data = filled_db.read_bytes()
    torn.write_bytes(data[:100] + b"\xff" * (len(data) - 100))
    before = _sha(torn)
    proc = _cli(capsys, "export", "--project", "news", "--format", "jsonl", "--output", str(tmp_path / "x.jsonl"),
                "--db", str(torn))
    _one_line_error(proc, "torn.db")
    assert _sha(torn) == before
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not spandec annotations"):
        open_store(other)


def test_newer_schema_is_refused_and_unchanged(filled_db, capsys):
    con = sqlite3.connect(filled_db)
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    before = _sha(filled_db)
    with pytest.raises(StoreError, match="newer than this spandec"):
        open_store(filled_db)
    proc = _cli(capsys, "projects", "--db", str(filled_db))
    _one_line_error(proc, "schema version 9999_future", "upgrade spandec")
    assert _sha(filled_db) == before


@pytest.mark.parametrize("name", ["a?mode=ro.db", "b%41.db", "c#frag.db", "d%3F?x=%2541.db"])
def test_db_paths_with_url_characters_open_that_very_file(tmp_path, name):
    """``--db`` paths holding ``?``, ``%41`` or ``#`` are file names, not URL parts: exactly that file is created."""
    store = open_store(tmp_path / name)
    p = P.create_project(store, "news", ["PER"])
    P.add_texts(store, p, [P.Doc("Maria Rossi .")])
    store.close()
    assert sorted(f.name for f in tmp_path.iterdir() if not f.name.endswith(("-wal", "-shm"))) == [name]
    assert sqlite3.connect(tmp_path / name).execute("select name from projects").fetchall() == [("news",)]
