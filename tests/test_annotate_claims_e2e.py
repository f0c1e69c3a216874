"""What the annotator sees in Chromium matches the store: a project created after the page loaded is offered and
resumed after a reload, a refused Create leaves a note and no "Error" badge, and the `a` key pressed twice accepts
one text. Two annotators: the second (through the API) is handed the text the first one's undo gave back.
"""

from __future__ import annotations

import os

import pytest

from spandec.store import open_store
from spandec.store import projects as P
from test_annotate_e2e import CHROMIUM, CHROMIUM_ARGS, SENTENCES, _app_args, _client, _select, sf_model  # noqa: F401
from test_app_support import start_app, stop_app

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium")


def _no_error_badges(page) -> None:
    for sel in ("#ann-project", "#ann-name"):
        assert "Error" not in page.locator(sel).inner_text(), page.locator(sel).inner_text()


def test_later_projects_reload_resume_and_single_accepts(sf_model, tmp_path):  # noqa: F811 - the fixture
    from playwright.sync_api import expect, sync_playwright

    db = str(tmp_path / "annotations.db")
    open_store(db).close()  # no project when the app starts
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    proc, url = start_app(_app_args(sf_model, db), tmp_path / "app.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 1400})
                page.goto(url, wait_until="load")
                page.get_by_role("tab", name="Annotate").click()
                store = open_store(db)  # another admin creates a project after this page loaded
                P.add_texts(store, P.create_project(store, "walk-news", ["PER", "LOC"]),
                            [P.Doc(t) for t in SENTENCES])
                store.close()
                note = page.locator("#ann-create-note")
                page.click("#ann-create")  # no name, no file: refused with a note
                expect(note).to_contain_text("Not created", timeout=30_000)
                with page.expect_file_chooser() as chooser:
                    page.locator("#ann-new-file button").first.click()
                chooser.value.set_files(str(corpus))
                page.fill("#ann-new-name input, #ann-new-name textarea", "walk-news")  # a duplicate name
                page.wait_for_timeout(1500)  # the upload
                page.click("#ann-create")
                expect(note).to_contain_text("exists already", timeout=30_000)
                _no_error_badges(page)
                page.fill("#ann-name input, #ann-name textarea", "Ada")
                page.locator("#ann-project input").click()  # the dropdown offers the project made after loading
                page.get_by_role("option", name="walk-news").click()
                page.click("#ann-open")
                status = page.locator("#ann-status")
                expect(status).to_contain_text("Text 1 of 4", timeout=30_000)
                page.get_by_label("LOC").check()
                _select(page, "Toronto")
                expect(page.locator("#ann-text mark")).to_have_count(1, timeout=30_000)
                page.keyboard.press("a")
                page.keyboard.press("a")  # pressed twice quickly: the second names text 1 again
                expect(status).to_contain_text("Text 2 of 4", timeout=30_000)
                page.wait_for_timeout(2000)  # let a second accept, if any, arrive
                expect(status).to_contain_text("Text 2 of 4 (draft", timeout=30_000)
                page.reload(wait_until="load")  # name and project come back; the project is in the list
                page.get_by_role("tab", name="Annotate").click()
                expect(page.locator("#ann-status")).to_contain_text("Text 2 of 4 (draft", timeout=30_000)
                _no_error_badges(page)
                page.keyboard.press("a")  # accept text 2, then undo: text 3 goes back to the queue
                expect(page.locator("#ann-status")).to_contain_text("Text 3 of 4", timeout=30_000)
                page.keyboard.press("z")
                expect(page.locator("#ann-status")).to_contain_text("Text 2 of 4 (draft", timeout=30_000)
            finally:
                browser.close()
        c = _client(url)  # a second annotator is handed text 3, which Ada's undo gave back
        out = c.predict("walk-news", "Bo", "corpus order", api_name="/annotate_open")
        assert "Text 3 of 4 (draft" in out[4]
    finally:
        stop_app(proc)
    store = open_store(db)
    rows = P.project_annotations(store, P.get_project(store, "walk-news"), statuses=["accepted", "draft", "skipped"])
    store.close()
    got = sorted((r["position"], r["annotator"], r["status"], [(e["start"], e["end"]) for e in r["entities"]])
                 for r in rows)
    assert got == [(0, "Ada", "accepted", [(31, 38)]), (1, "Ada", "draft", []), (2, "Bo", "draft", [])]
