"""Browser tests of every view, as a user sees them: ``python app.py`` with the shipped checkpoints (as the default app
serves them), one app start and one Chromium page for all tabs, a 250-word news text.

Each tab's test takes a screenshot at 1400 px width into ``docs/screenshots/`` (``$SPANDEC_SCREENSHOT_DIR``, default
the test's temporary folder; the README's come from ``SPANDEC_SCREENSHOT_DIR=docs/screenshots``) and checks what a user
would: entities present with their label on them, label colours at least 20 apart in CIELAB ΔE (from the rendered
colours), no text container overflowing its box, no word broken across lines, axis labels that do not collide, the
trade-off points moving with the batch size, a 20,000-character text tagged through "Tag a file" with progress.
Needs Debian's Chromium (``apt-get install -y chromium``; skipped without it); never downloads a browser.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from pathlib import Path

import pytest

from test_app_support import start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
NEWS = (ROOT / "data" / "texts" / "news_250.txt").read_text(encoding="utf-8").strip()
WIDTH = 1400

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium: apt-get install -y chromium")

# A word: letters, digits and in-word punctuation ("1,500", "Dr."); hyphens and slashes may wrap, as in print.
BROKEN_WORDS_JS = r"""(sel) => {
  const out = [];
  for (const root of document.querySelectorAll(sel)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.ent-label') || !node.parentElement.getClientRects().length) continue;
      for (const m of node.data.matchAll(/[^\s\-\u2013\u2014\/]+/g)) {
        const r = document.createRange();
        r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
        if (tops.size > 1) out.push(m[0]);
      }
    }
  }
  return out;
}"""
OVERFLOW_JS = """(sel) => [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length)
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => `${e.className}: ${e.scrollWidth} > ${e.clientWidth}`)"""
ENTITIES_JS = """(sel) => [...document.querySelectorAll(sel + ' mark.ent')].map(m => ({
  label: m.dataset.label, color: getComputedStyle(m).backgroundColor, title: m.title,
  chip: m.querySelector('.ent-label') ? m.querySelector('.ent-label').innerText.trim() : '',
  chipVisible: m.querySelector('.ent-label') ? m.querySelector('.ent-label').getBoundingClientRect().width > 0 : false,
  text: [...m.childNodes].filter(n => n.nodeType === 3).map(n => n.data).join('')}))"""
TICKS_JS = """([sel, axis]) => [...document.querySelectorAll(`${sel} g.${axis}tick text`)]
  .filter(t => t.textContent.trim()).map(t => { const r = t.getBoundingClientRect();
    return [t.textContent, r.left, r.top, r.right, r.bottom]; })"""
POINTS_JS = """(sel) => document.querySelector(sel + ' .js-plotly-plot').data
  .filter(t => t.x && t.x.length && t.x[0] !== null).map(t => [t.name, t.x, t.y])"""


def _lab(rgb: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a CSS ``rgb(r, g, b)`` colour, computed here from its sRGB value."""
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    xyz = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047, \
        0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2], (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _delta_e(a: str, b: str) -> float:
    return sum((x - y) ** 2 for x, y in zip(_lab(a), _lab(b))) ** 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python app.py`` as shipped (the default checkpoints and precision), on a free port
    (``$SPANDEC_APP_URL``: an app already started that way)."""
    if os.environ.get("SPANDEC_APP_URL"):
        yield os.environ["SPANDEC_APP_URL"]
        return
    tmp = tmp_path_factory.mktemp("app-browser")
    proc, url = start_app(["--db", str(tmp / "annotations.db")], tmp / "app.log", timeout=300)
    try:
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            pg.set_default_timeout(60_000)
            pg.goto(server, wait_until="load")
            pg.wait_for_selector("#tag-text textarea")
            yield pg
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("SPANDEC_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _shot(page, path: Path) -> None:
    """A full-page screenshot at the page's 1400 px width, as a small optimised PNG."""
    from PIL import Image

    page.wait_for_timeout(400)
    page.screenshot(path=str(path), full_page=True)
    img = Image.open(path).convert("RGB")
    assert img.width == WIDTH
    img.quantize(colors=128).save(path, optimize=True)


def _open(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def _check_entities(page, sel: str, min_entities: int = 5) -> list[dict]:
    """Entities shown in ``sel``: present, each with its label on it and its score on hover, colours far apart,
    the text's paragraph breaks kept, no word broken across lines, nothing overflowing."""
    ents = page.evaluate(ENTITIES_JS, sel)
    assert len(ents) >= min_entities, ents
    for e in ents:
        assert e["chip"] == e["label"] and e["chipVisible"], e  # the label on the entity, not colour alone
        assert e["label"] in e["title"] and e["text"].strip()
    colors = {e["label"]: e["color"] for e in ents}
    assert len(set(colors.values())) == len(colors), colors  # one colour per label
    for (la, a), (lb, b) in itertools.combinations(colors.items(), 2):
        assert _delta_e(a, b) >= 20, (la, a, lb, b, _delta_e(a, b))
    assert page.evaluate(BROKEN_WORDS_JS, f"{sel} .ents") == []
    assert page.evaluate(OVERFLOW_JS, f"{sel} .ents") == []
    return ents


def _no_collisions(page, sel: str, axis: str) -> int:
    """Tick labels of ``axis`` in the plot ``sel`` do not overlap; returns how many are drawn."""
    page.wait_for_function(f"document.querySelectorAll('{sel} g.{axis}tick text').length > 0")
    page.wait_for_timeout(300)
    boxes = page.evaluate(TICKS_JS, [sel, axis])
    for a, b in itertools.combinations(boxes, 2):
        overlap_x = min(a[3], b[3]) - max(a[1], b[1])
        overlap_y = min(a[4], b[4]) - max(a[2], b[2])
        assert overlap_x <= 0.5 or overlap_y <= 0.5, (a, b)
    return len(boxes)


def test_highlight(page, shots):
    page.wait_for_function("document.querySelectorAll('#highlighted mark.ent').length > 0")  # the first view's example
    assert "Start here" in page.locator("#intro").inner_text()
    page.fill("#tag-text textarea", NEWS)
    page.click("#tag")
    page.wait_for_function("document.querySelector('#latency').innerText.includes('entities')")
    page.wait_for_function("document.querySelectorAll('#highlighted mark.ent').length > 5")
    ents = _check_entities(page, "#highlighted", min_entities=15)
    assert {"Geneva", "Nigeria"} <= {e["text"] for e in ents}
    shown = page.evaluate("document.querySelector('#highlighted .ents').innerText")
    assert shown.count("\n\n") >= NEWS.count("\n\n") == 5  # paragraphs kept
    _shot(page, shots / "highlight.png")
    # Markup typed by the user is shown as text and never run.
    page.fill("#tag-text textarea", "<img src=x onerror=window.pwned=1><script>window.pwned=1</script> Bob")
    page.click("#tag")
    page.wait_for_function("document.querySelector('#highlighted').innerText.includes('<script>')")
    assert page.locator("#highlighted img, #highlighted script").count() == 0
    assert page.evaluate("window.pwned === undefined")
    page.fill("#tag-text textarea", NEWS)
    page.fill("#tag-threshold input[type=number]", "0.65")  # carried to the next tab with the text
    page.press("#tag-threshold input[type=number]", "Enter")


def test_span_filter(page, shots):
    _open(page, "Span filter")
    page.wait_for_function("document.querySelector('#analyse-text textarea').value.startsWith('GENEVA')")  # carried
    assert page.locator("#analyse-threshold input[type=number]").input_value() == "0.65"
    page.fill("#analyse-threshold input[type=number]", "0.7")  # back to the served model's (stored speed figures)
    page.press("#analyse-threshold input[type=number]", "Enter")
    page.click("#analyse")
    kept = page.locator("#kept")
    page.wait_for_function("/words 1–60 of \\d+/.test(document.querySelector('#kept').innerText)")
    total = int(re.search(r"words 1–60 of (\d+)", kept.inner_text()).group(1))
    assert total > 250
    assert _no_collisions(page, "#strip", "x") == 60  # every word named, rotated so they do not collide
    assert _no_collisions(page, "#grid", "x") >= 20 and _no_collisions(page, "#grid", "y") >= 20
    numbers = page.evaluate("[...document.querySelectorAll('#strip .heatmap-label text, #strip text.heatmap-label')]"
                            ".map(t => t.getBoundingClientRect()).map(r => [r.left, r.right])")
    numbers.sort()
    assert len(numbers) == 60 and all(a[1] < b[0] for a, b in zip(numbers, numbers[1:]))  # separated
    legend = page.evaluate("[...document.querySelectorAll('#grid g.traces')].map(t => [t.textContent, "
                           "getComputedStyle(t.querySelector('path')).fill])")
    fills = dict(legend)
    assert _delta_e(fills["kept, entity but overlapped"], fills["predicted ORG"]) >= 20, fills
    box = page.locator("#start-word input[type=number]")
    box.fill("61")
    box.press("Enter")
    page.wait_for_function("document.querySelector('#kept').innerText.includes('words 61–120')")
    _shot(page, shots / "span-filter.png")


def test_cross_attention(page, shots):
    _open(page, "Cross-attention")
    page.click("#list-spans")
    page.wait_for_timeout(1500)
    page.click("#show-attention")
    caption = page.locator("#attention-caption")
    page.wait_for_function("/tokens \\d+–\\d+ of \\d+/.test(document.querySelector('#attention-caption').innerText)")
    assert "heads" in caption.inner_text()
    assert _no_collisions(page, "#attention-plot", "x2") >= 40  # the key axis under the two subplots
    box = page.locator("#start-token input")
    box.fill("30")
    box.press("Enter")
    page.wait_for_function("document.querySelector('#attention-caption').innerText.includes('tokens 30–89')")
    _shot(page, shots / "cross-attention.png")


def test_compare(page, shots):
    _open(page, "Compare")
    page.click("#compare")
    page.wait_for_function("document.querySelectorAll('.compare-model mark.ent').length > 20", timeout=180_000)
    models = page.locator(".compare-model .ents-model").all_inner_texts()
    assert len(models) == 4
    _check_entities(page, ".compare-model", min_entities=40)
    assert page.evaluate(BROKEN_WORDS_JS, "#disagree .ents") == []
    _shot(page, shots / "compare.png")


def test_tradeoff(page, shots):
    _open(page, "Trade-off")
    page.wait_for_function("document.querySelector('#tradeoff-caption').innerText.includes('batch size 8')")
    points = {}
    for bs in ("1", "32", "8"):
        page.locator("#batch-size").get_by_label(bs, exact=True).check()
        page.wait_for_function(f"document.querySelector('#tradeoff-caption').innerText.includes('batch size {bs}.')"
                               f" || document.querySelector('#tradeoff-caption').innerText.includes('batch size {bs};')")
        page.wait_for_timeout(500)
        points[bs] = {name: x[0] for name, x, _ in page.evaluate(POINTS_JS, "#tradeoff-plot")}
    names = set(points["1"]) & set(points["8"]) & set(points["32"])
    assert any(n.startswith("Token") for n in names) and any(n.startswith("SF-SpanDec") for n in names), points
    for name in names:  # every point moves with the batch size, SF-SpanDec's too
        assert len({points[bs][name] for bs in points}) == 3, (name, points)
    assert page.evaluate(BROKEN_WORDS_JS, "#tradeoff-tbl thead") == []  # "precision", "sentence" kept whole
    assert page.evaluate(BROKEN_WORDS_JS, "#tradeoff-tbl tbody") == []
    table = page.locator("#tradeoff-tbl").inner_text()
    assert "onnx-int8" in table and "scores of" in table
    _shot(page, shots / "tradeoff.png")


def test_tag_a_long_text(page, shots, tmp_path):
    text = "\n\n".join([NEWS] * 14)[:20_000]
    text = text[: text.rstrip().rfind(" ")]
    assert 19_000 < len(text) <= 20_000
    _open(page, "Highlight")
    page.fill("#tag-text textarea", text)
    page.click("#tag")
    toast = page.locator(".toast-body").filter(has_text="characters")
    assert "“Tag a file” tab" in toast.first.inner_text()  # the refusal names the path that works
    page.fill("#tag-text textarea", NEWS)
    src = tmp_path / "long-news.txt"
    src.write_text(text + "\n", encoding="utf-8")
    _open(page, "Tag a file")
    page.locator("#file-whole").get_by_label("the whole file is one text", exact=True).check()
    page.locator("#file-upload").wait_for(state="visible")  # the tab's children render when it first opens
    page.locator("#file-upload input[type=file]").set_input_files(str(src))
    page.locator("#file-upload:visible").filter(has_text="long-news.txt").wait_for(timeout=120_000)
    page.click("#tag-file")
    seen, deadline = set(), time.monotonic() + 300
    while "Tagged" not in page.locator("#file-info").inner_text():
        assert time.monotonic() < deadline, "the long text was not tagged in 5 minutes"
        assert not page.locator(".toast-body").filter(has_text="long-news").count(), page.locator(".toast-body").all_inner_texts()
        seen.update(re.findall(r"window \d+ of \d+", page.locator("body").inner_text()))
        page.wait_for_timeout(100)
    assert seen, "no progress shown"
    assert "1** text" not in page.locator("#file-info").inner_text()  # markdown rendered
    assert page.locator("#file-info").inner_text().startswith("Tagged 1 text")
    _check_entities(page, "#file-view", min_entities=100)
    assert page.evaluate(BROKEN_WORDS_JS, "#file-preview thead") == []  # "entity count" header on one line
    for close in page.locator(".toast-close").all():  # the refusal's toast, if still shown
        close.click()
    _shot(page, shots / "tag-file.png")
