"""Screenshots of the app serving the shipped checkpoints (README figures).

    python app.py &            # the shipped models on 127.0.0.1:7860
    python docs/screenshots.py # writes docs/screenshots/shipped-*.png

Uses Playwright with Debian's Chromium (/usr/bin/chromium); never downloads a browser.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/"
OUT = Path(__file__).parent / "screenshots"
TEXT = "Angela Merkel met Emmanuel Macron in Paris on Tuesday before flying back to Berlin with Siemens executives."
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def main() -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(URL, wait_until="load")
        page.wait_for_selector("#text textarea", timeout=60_000)
        page.locator("#threshold input[type=range]").fill("0.5")
        page.fill("#text textarea", TEXT)
        page.click("#tag")
        expect(page.locator("#latency")).to_contain_text("entities", timeout=60_000)
        page.screenshot(path=str(OUT / "shipped-highlight.png"), full_page=True)
        page.get_by_role("tab", name="Compare").click()
        page.click("#compare")
        expect(page.locator("#compare-summary")).to_contain_text("SF-SpanDec", timeout=60_000)
        page.wait_for_timeout(500)
        page.locator(".tabs").first.screenshot(path=str(OUT / "shipped-compare.png"))
        page.get_by_role("tab", name="Span filter").click()
        page.click("text=Analyse")
        expect(page.locator("#kept")).to_contain_text("candidate spans", timeout=60_000)
        page.wait_for_timeout(500)
        page.locator(".tabs").first.screenshot(path=str(OUT / "shipped-span-filter.png"))
        browser.close()
    print(f"wrote {OUT}/shipped-*.png")


if __name__ == "__main__":
    main()
