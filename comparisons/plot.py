"""Latency-vs-F1 figure of one results file: HTML (plotly, JS from its CDN) and PNG (Debian's Chromium).

    python comparisons/plot.py comparisons/results/conllpp.json

Latency here is ms per sentence at batch 8 (1000 / samples per second); the SF-SpanDec curve
is the threshold sweep. The PNG is rendered by Playwright driving /usr/bin/chromium (skipped,
with a message, where it is missing).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from spandec.app.figures import tradeoff_plot

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def figure(results: dict):
    """The plotly figure of a results dict."""
    points = []
    for name, e in results["strategies"].items():
        tp = e.get("throughput", {}).get("batch8", {}).get("median")
        if tp:
            points.append({"name": name, "f1": e["f1"], "latency_ms": 1000 / tp,
                           "gflops": e.get("gflops", {}).get("measured")})
    sweep = [{"threshold": r["threshold"], "f1": r["f1"], "latency_ms": 1000 / r["samples_per_second"],
              "kept_fraction": r["kept_fraction"]} for r in results.get("sf_sweep", [])]
    title = f"{results['dataset']} {results['split']}: F1 vs latency at batch 8 ({results['machine'].get('processor')})"
    return tradeoff_plot(points, sweep, x_title="ms per sentence at batch 8", title=title)


def main(path: str) -> None:
    results = json.loads(Path(path).read_text())
    save_figure(figure(results), Path(path).with_suffix(""))


def save_figure(fig, stem: Path, size: tuple[int, int] = (900, 520)) -> None:
    """Write ``stem``.html and, where /usr/bin/chromium exists, ``stem``.png of a plotly figure."""
    fig.write_html(f"{stem}.html", include_plotlyjs="cdn")
    if not Path("/usr/bin/chromium").exists():
        print("no /usr/bin/chromium: PNG skipped")
        return
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "fig.html"
        fig.write_html(str(page_file), include_plotlyjs=True, full_html=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.goto(page_file.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=f"{stem}.png", full_page=True)
            browser.close()
    print(f"wrote {stem}.html and {stem}.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "comparisons/results/conllpp.json")
