"""Select-to-label in Chromium over text the browser counts differently from the server: emoji and astral letters
(two UTF-16 units, one code point), CRLF (folded by the HTML parser), combining marks, Arabic and Hebrew, full-width
letters. A real mouse drag over a known word in each text must store exactly that word's code-point offsets.
"""

from __future__ import annotations

import os

import pytest

from spandec.store import open_store
from spandec.store import projects as P
from test_annotate_e2e import CHROMIUM, CHROMIUM_ARGS, _app_args, sf_model  # noqa: F401 - the fixture
from test_app_support import start_app, stop_app

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium")

# (text, the word to select with the mouse); every word occurs once in its text.
TEXTS = [
    ("😀😀😀😀😀😀 Paris met Berlin", "Paris"),
    ("𝐍𝐄𝐖 Paris met Berlin", "Paris"),
    ("😀 Angela Merkel met Emmanuel Macron in Paris.", "Paris"),
    ("𝐍𝐄𝐖 𝐘𝐎𝐑𝐊 is a city", "𝐘𝐎𝐑𝐊"),
    ("𝔐𝔞𝔯𝔦𝔞 met 𝔓𝔢𝔱𝔢𝔯 today", "𝔓𝔢𝔱𝔢𝔯"),
    ("Line one\r\nParis is here\r\nand Berlin too", "Berlin"),
    ("A\r\n\r\nB then Madrid", "Madrid"),
    ("😀\r\n😀\r\nOslo is cold", "Oslo"),
    ("Cafe\u0301 de Flore is in Paris", "Cafe\u0301"),
    ("Zoe\u0308 Salda\u0303na visited Rome", "Salda\u0303na"),
    ("Ha\u0300 No\u0323\u0302i is the capital", "No\u0323\u0302i"),
    ("नमस्ते दिल्ली से", "दिल्ली"),
    ("زار محمد القاهرة أمس", "القاهرة"),
    ("דוד גר בירושלים עכשיו", "בירושלים"),
    ("The name محمد appears in London", "London"),
    ("Ｍｉｃｒｏｓｏｆｔ ＣＥＯ Ｓａｔｙａ Ｎａｄｅｌｌａ visited Ｐａｒｉｓ.", "Ｐａｒｉｓ"),
    ("Ｔｏｋｙｏ and Osaka", "Ｔｏｋｙｏ"),
    ("👨\u200d👩\u200d👧 family from Lagos", "Lagos"),
    ("🇫🇷🇩🇪 Berlin and Paris", "Paris"),
    ("👍🏽 Kofi lives in Accra", "Accra"),
    ("東京\tTokyo and 大阪", "大阪"),
    ("<b>Paris</b> & Rome", "Rome"),
    ("Emoji 😀😀 inside Kyoto😀 here", "Kyoto"),
    ("😀\r\nمرحبا Ｐａｒｉｓ 𝐍𝐄𝐖 Cafe\u0301", "Cafe\u0301"),
]
WIDEN = ("New York-based firms hire", "New York", "New York-based")  # inside a word: widened, and said so

_SELECT = """([word]) => {
  const root = document.querySelector('#ann-text .ann-text');
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT); let n;
  while ((n = walk.nextNode())) { const i = n.textContent.indexOf(word);
    if (i >= 0) { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + word.length);
      const b = r.getBoundingClientRect(); return [b.left, b.right, b.top + b.height / 2]; } }
  return null; }"""

# What the browser had selected when the mouse was released (a capturing listener runs before the view's own).
_WATCH = """() => { window.__sel = []; document.addEventListener('mouseup',
  () => window.__sel.push(String(window.getSelection())), true); }"""


def _drag(page, word: str) -> None:
    """Drag the mouse over ``word`` in the view, from just inside its left edge to just inside its right edge."""
    box = page.evaluate(_SELECT, [word])
    assert box is not None, f"{word!r} is not in the view"
    left, right, y = box
    page.mouse.move(left + 1, y)
    page.mouse.down()
    page.mouse.move((left + right) / 2, y, steps=3)
    page.mouse.move(right - 1, y, steps=3)
    page.mouse.up()


def test_mouse_selections_store_exactly_the_selected_words(sf_model, tmp_path):  # noqa: F811 - the fixture
    from playwright.sync_api import expect, sync_playwright

    db = str(tmp_path / "annotations.db")
    store = open_store(db)
    project = P.create_project(store, "unicode", ["PER", "LOC"])
    P.add_texts(store, project, [P.Doc(t, f"u{k}") for k, (t, _) in enumerate(TEXTS + [WIDEN[:2]])])
    store.close()
    proc, url = start_app(_app_args(sf_model, db), tmp_path / "app.log")
    notes, selected = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                page.goto(url, wait_until="load")
                page.get_by_role("tab", name="Annotate").click()
                page.evaluate(_WATCH)
                page.fill("#ann-name input, #ann-name textarea", "Ada")
                page.locator("#ann-project input").click()
                page.get_by_role("option", name="unicode").click()
                page.click("#ann-open")
                status, view = page.locator("#ann-status"), page.locator("#ann-text")
                for k, (_, word) in enumerate(TEXTS + [WIDEN[:2]]):
                    expect(status).to_contain_text(f"Text {k + 1} of {len(TEXTS) + 1}", timeout=30_000)
                    page.get_by_label("LOC").check()
                    _drag(page, word)
                    expect(view.locator("mark")).to_have_count(1, timeout=30_000)
                    notes.append(status.inner_text())
                    page.click("#ann-accept")
                expect(view).to_contain_text("Nothing left", timeout=30_000)
                selected = [s for s in page.evaluate("() => window.__sel") if s]  # clicks select nothing
            finally:
                browser.close()
    finally:
        stop_app(proc)
    store = open_store(db)
    rows = {r["text_id"]: r for r in P.project_annotations(store, P.get_project(store, "unicode"))}
    stored = [rows[tid] for tid in sorted(rows)]
    store.close()
    assert len(stored) == len(TEXTS) + 1
    wrong = []
    for (text, word), row, sel in zip(TEXTS, stored, selected):
        start = text.index(word)  # code points, the store's unit
        want = [(start, start + len(word), "LOC")]
        got = [(e["start"], e["end"], e["label"]) for e in row["entities"]]
        if row["text"] != text or got != want:
            wrong.append((text, word, got, want, sel))
    assert not wrong, wrong
    # the mouse selected the word itself, character for character (so nothing was widened, and the notes say so)
    assert selected == [w for _, w in TEXTS] + [WIDEN[1]]
    assert not any("widened" in n for n in notes[:len(TEXTS)])
    text, _, whole = WIDEN
    assert [(e["start"], e["end"]) for e in stored[-1]["entities"]] == [(text.index(whole), len(whole))]
    assert "widened to the whole words" in notes[-1]
    print(f"\n{len(TEXTS)} texts selected with the mouse in Chromium: {len(wrong)} wrong stored spans")
