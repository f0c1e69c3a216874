"""Screenshot of the Analyse tab on CoNLL++ with the shipped checkpoints (README figure).

    python app.py &                                   # the shipped models on 127.0.0.1:7860
    python docs/screenshots_analyse.py http://127.0.0.1:7860/ ../shared/data/conllpp/test.txt 300

Uploads the gold file, analyses its first N sentences, opens the first disagreement with a missed entity and
writes docs/screenshots/shipped-analyse.png. Uses Playwright with Debian's Chromium; never downloads a browser.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

OUT = Path(__file__).parent / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def main(url: str, gold: str, sentences: int) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="Analyse").click()
        page.locator("#an-gold input[type=file]").set_input_files(gold)
        page.get_by_label("Sentences to use").fill(str(sentences))
        page.wait_for_timeout(1000)
        page.click("#an-run")
        expect(page.locator("#an-info")).to_contain_text("Analysed", timeout=1_800_000)
        page.get_by_label("…and error kind").click()
        page.get_by_role("option", name="missed").click()
        expect(page.locator("#an-disagreement")).to_contain_text("missed", timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(OUT / "shipped-analyse.png"), full_page=True)
        browser.close()
    print(f"wrote {OUT}/shipped-analyse.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/",
         sys.argv[2] if len(sys.argv) > 2 else "../shared/data/conllpp/test.txt",
         int(sys.argv[3]) if len(sys.argv) > 3 else 300)
