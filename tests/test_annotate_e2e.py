"""The annotate view end to end: ``python app.py --db`` in a subprocess, driven by gradio_client and Playwright.

Nothing is lost: accepted annotations and a draft survive SIGKILL and a restart; 10 annotators accepting at
once through the app (SQLite and a real PostgreSQL) neither lose, duplicate nor share a text; a bad database
stops the app with one line; a span selected with the mouse, labelled and accepted is there after a reload.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spandec.store import open_store
from spandec.store import projects as P
from store_helpers import PG_MISSING, new_database, postgres_server
from test_app_support import build_tiny_models, start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SENTENCES = ["Maria Rossi flew from Milan to Toronto on Monday .", "Kofi Mensah lives in Accra .",
             "The team left Geneva on Friday .", "Aiko Tanaka met Peter in Kyoto ."]


@pytest.fixture(scope="module")
def sf_model(tiny_encoder, tmp_path_factory) -> str:
    return build_tiny_models(tiny_encoder, tmp_path_factory.mktemp("ann-models"))["sf-spandec"]


def _corpus(db: str, name: str, n: int, **kw) -> None:
    store = open_store(db)
    project = P.create_project(store, name, ["PER", "LOC"], **kw)
    P.add_texts(store, project, [P.Doc(f"{SENTENCES[k % 4]} ({k})", f"t{k}") for k in range(n)])
    store.close()


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False)


def _app_args(model: str, db: str) -> list[str]:
    return ["--models", f"SF-SpanDec={model}", "--db", db, "--concurrency", "2"]


def test_accepted_work_and_draft_survive_sigkill(sf_model, tmp_path):
    db = str(tmp_path / "annotations.db")
    _corpus(db, "news", 10, model="SF-SpanDec", threshold=0.0)  # pre-annotated by the model
    proc, url = start_app(_app_args(sf_model, db), tmp_path / "app.log")
    try:
        c = _client(url)
        shown, html, table, _, status, _ = c.predict("news", "ann", "corpus order", api_name="/annotate_open")
        assert "Text 1 of 10" in status and "pre-annotated by SF-SpanDec" in status and "Maria" in html
        for k in range(3):
            for e in [r for r in table["data"]]:  # clear the model's guesses, then label by hand
                c.predict("news", "ann", f"{e[2]}:{e[3]}", api_name="/annotate_remove")
            c.predict("news", "ann", SENTENCES[k % 4].split()[0], "PER", api_name="/annotate_add")
            shown, html, table, _, status, _ = c.predict("news", "ann", shown, "corpus order",
                                                         api_name="/annotate_accept")
        assert "Text 4 of 10" in status and "3 accepted" in status
        for e in table["data"]:
            c.predict("news", "ann", f"{e[2]}:{e[3]}", api_name="/annotate_remove")
        c.predict("news", "ann", "Tanaka", "LOC", api_name="/annotate_add")  # a draft, never accepted
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc, url = start_app(_app_args(sf_model, db), tmp_path / "app.log")
    try:
        c = _client(url)
        shown, html, table, _, status, _ = c.predict("news", "ann", "corpus order", api_name="/annotate_open")
        assert "Text 4 of 10 (draft" in status and table["data"] == [["Tanaka", "LOC", 5, 11]]
        path, note = c.predict("news", "jsonl", "", ["accepted"], api_name="/annotate_export")
        import json

        rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
        assert [[(e["text"], e["label"]) for e in r["entities"]] for r in rows] == [
            [("Maria", "PER")], [("Kofi", "PER")], [("The", "PER")]]
        prev = c.predict("news", "ann", api_name="/annotate_previous")
        assert "Text 3 of 10 (accepted" in prev[4]
        assert "overlaps" in _error(c, "news", "ann", "The team", "LOC", api_name="/annotate_add")
    finally:
        stop_app(proc)


def _error(client, *args, api_name: str) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name)
    return str(info.value)


def _concurrent_accepts(url: str, annotators: int, each: int) -> tuple[dict[str, list[int]], float, list[str]]:
    """``annotators`` gradio clients accepting ``each`` texts at once; their text ids, the seconds, errors."""
    clients = [_client(url) for _ in range(annotators)]
    got: dict[str, list[int]] = {}
    errors: list[str] = []

    def work(k: int) -> None:
        name, c, seen = f"ann{k}", clients[k], []
        try:
            out = c.predict("crowd", name, "corpus order", api_name="/annotate_open")
            for _ in range(each):
                seen.append(int(out[4].split("Text ")[1].split(" ")[0]))
                out = c.predict("crowd", name, out[0], "corpus order", api_name="/annotate_accept")
        except Exception as exc:  # noqa: BLE001 - collected and reported
            errors.append(f"{name}: {exc!r}")
        got[name] = seen

    threads = [threading.Thread(target=work, args=(k,)) for k in range(annotators)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got, time.perf_counter() - start, errors


@pytest.fixture(params=["sqlite", "postgresql"])
def crowd_db(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "annotations.db")
        return
    if PG_MISSING:
        pytest.skip(PG_MISSING)
    with postgres_server() as base:
        yield new_database(base)


# 10 annotators x 50 accepts each on SQLite (the load), x 10 on PostgreSQL (the same code path, kept short
# for the suite's time budget); SPANDEC_TEST_ACCEPTS=N sets both.
ANNOTATORS = int(os.environ.get("SPANDEC_TEST_ANNOTATORS", 10))


def test_ten_annotators_accept_at_once(sf_model, crowd_db, tmp_path):
    EACH = int(os.environ.get("SPANDEC_TEST_ACCEPTS", 10 if "://" in crowd_db else 50))
    n = ANNOTATORS * EACH
    _corpus(crowd_db, "crowd", n + ANNOTATORS)  # each annotator ends holding the draft after its last accept
    proc, url = start_app(_app_args(sf_model, crowd_db), tmp_path / "app.log")
    try:
        got, seconds, errors = _concurrent_accepts(url, ANNOTATORS, EACH)
    finally:
        stop_app(proc)
    assert not errors, errors[:3]
    positions = [p for seen in got.values() for p in seen]
    assert len(positions) == n and len(set(positions)) == n  # every text handed out once: none shared or lost
    store = open_store(crowd_db)
    project = P.get_project(store, "crowd")
    rows = P.project_annotations(store, project)
    assert len(rows) == n and len({r["text_id"] for r in rows}) == n  # every accept stored, none twice
    assert P.progress(store, project)["done"] == n and P.progress(store, project)["total"] == n + ANNOTATORS
    store.close()
    backend = "PostgreSQL" if "://" in crowd_db else "SQLite"
    print(f"\n{backend}: {n} accepts by {ANNOTATORS} annotators through the app in {seconds:.1f} s "
          f"= {n / seconds:.1f} accepts/s")


def test_bad_database_stops_the_app_with_one_line(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    proc = subprocess.run([sys.executable, "app.py", "--db", str(junk), "--models", "X=/nonexistent"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "damaged or not an SQLite database" in proc.stderr.strip().splitlines()[-1]
    assert junk.read_bytes() == b"not a database" * 100


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium: apt-get install -y chromium")
def test_select_a_span_with_the_mouse_accept_and_reload(sf_model, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    db = str(tmp_path / "annotations.db")
    _corpus(db, "news", 5)
    shots = Path(os.environ.get("SPANDEC_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    proc, url = start_app(_app_args(sf_model, db), tmp_path / "app.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 1000})
                page.goto(url + "?view=annotate", wait_until="load")
                page.get_by_role("tab", name="Annotate").click()
                page.fill("#ann-name input, #ann-name textarea", "Ada")
                page.locator("#ann-project input").click()
                page.get_by_role("option", name="news").click()
                page.click("#ann-open")
                status, view = page.locator("#ann-status"), page.locator("#ann-text")
                expect(status).to_contain_text("Text 1 of 5", timeout=30_000)
                page.get_by_label("LOC").check()
                _select(page, "Toronto")  # drag over the word with the mouse
                expect(view.locator("mark[data-label=LOC]")).to_have_text("Toronto", timeout=30_000)
                page.get_by_label("PER").check()
                _select(page, "Rossi", "Maria")  # backwards, over two words
                expect(view.locator("mark[data-label=PER]")).to_have_text("Maria Rossi", timeout=30_000)
                page.wait_for_timeout(300)
                _shot(page, shots / "annotate.png")
                page.keyboard.press("a")  # accept
                expect(status).to_contain_text("Text 2 of 5", timeout=30_000)
                page.reload(wait_until="load")  # name and project come back from the browser; so does the text
                page.get_by_role("tab", name="Annotate").click()
                expect(page.locator("#ann-status")).to_contain_text("Text 2 of 5", timeout=30_000)
                page.click("#ann-prev")
                expect(page.locator("#ann-status")).to_contain_text("Text 1 of 5 (accepted", timeout=30_000)
                marks = page.locator("#ann-text mark")
                assert marks.all_inner_texts() == ["Maria Rossi", "Toronto"]
                marks.first.click()  # pick an entity, relabel it to LOC
                expect(page.locator("#ann-pick input")).to_have_value("Maria Rossi · PER [0:11]", timeout=30_000)
                page.get_by_label("LOC").check()
                page.click("#ann-relabel")
                expect(page.locator("#ann-text mark[data-label=LOC]")).to_have_count(2, timeout=30_000)
                page.locator("#ann-text mark").last.click()  # pick "Toronto", remove it with the Delete key
                expect(page.locator("#ann-pick input")).to_have_value("Toronto · LOC [31:38]", timeout=30_000)
                page.keyboard.press("Delete")
                expect(page.locator("#ann-text mark")).to_have_count(1, timeout=30_000)
            finally:
                browser.close()
    finally:
        stop_app(proc)


def _select(page, last: str, first: str | None = None) -> None:
    """Drag the mouse from the start of ``first`` (default ``last``) to the end of ``last`` (backwards if after)."""
    words = page.locator("#ann-text span[data-s]").first
    box = page.evaluate("""([a, b]) => {
        const root = document.querySelector('#ann-text .ann-text');
        const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        const rect = (word, atEnd) => { walk.currentNode = root; let n;
          while ((n = walk.nextNode())) { const i = n.textContent.indexOf(word);
            if (i >= 0) { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + word.length);
              const b = r.getBoundingClientRect(); return [atEnd ? b.right - 1 : b.left + 1, b.top + b.height / 2]; } } };
        return [rect(a, false), rect(b, true)]; }""", [first or last, last])
    (x0, y0), (x1, y1) = box
    if first is not None and first != last:  # drag backwards: from the end of `last` to the start of `first`
        (x0, y0), (x1, y1) = (x1, y1), (x0, y0)
    assert words is not None
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()


def _shot(page, path: Path) -> None:
    """The annotate tab: the queue controls, the text with its entities, the buttons."""
    page.locator(".tabs").first.screenshot(path=str(path))
