"""The Analyse tab in Chromium: ``python app.py`` on tiny models, upload a gold file, analyse, open a disagreement,
export the serving config, and load it (the app's ``--config`` reader and ``spandec predict --config``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spandec.app.pool import ModelPool, resolve_specs
from test_app_support import build_tiny_models, model_args, start_app, stop_app, write_gold

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium: apt-get install -y chromium")
def test_analyse_in_chromium(tiny_encoder, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    paths = build_tiny_models(tiny_encoder, tmp_path / "models")
    gold = write_gold(tmp_path / "gold.conll", repeat=2)
    proc, url = start_app(["--models", *model_args(paths), "--db", str(tmp_path / "a.db"), "--precision", "fp32"],
                          tmp_path / "app.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(url, wait_until="load")
                page.get_by_role("tab", name="Analyse").click()
                page.locator("#an-gold input[type=file]").set_input_files(str(gold))
                page.wait_for_timeout(1000)
                page.click("#an-run")
                info = page.locator("#an-info")
                expect(info).to_contain_text("Analysed", timeout=120_000)
                expect(info).to_contain_text("Analysed 12 sentences")
                expect(page.locator("#an-kinds")).to_contain_text("wrong boundary")
                shown = page.locator("#an-disagreement")
                expect(shown).to_contain_text("gold", timeout=30_000)  # the first disagreement opens by itself
                first = shown.inner_text()
                page.locator("#an-pick input").click()  # open another one from the list
                options = page.get_by_role("option")
                expect(options.first).to_be_visible(timeout=10_000)
                assert options.count() >= 2
                options.nth(1).click()
                expect(shown).not_to_have_text(first, timeout=30_000)
                text = shown.inner_text()
                assert all(name in text for name in ("gold", "Token", "PL-Marker", "SpanDec", "SF-SpanDec"))
                shots = os.environ.get("SPANDEC_SCREENSHOT_DIR")
                if shots:
                    page.screenshot(path=str(Path(shots) / "analyse-tiny.png"), full_page=True)

                page.click("#an-export")
                link = page.locator("a[href$=\"serving.json\"]")
                expect(link).to_be_visible(timeout=30_000)
                body = page.request.get(link.get_attribute("href")).body()
            finally:
                browser.close()
    finally:
        stop_app(proc)
    config = tmp_path / "serving.json"
    config.write_bytes(body)
    assert json.loads(body)["models"]["SF-SpanDec"] == {"path": paths["sf-spandec"], "threshold": 0.5,
                                                         "precision": "auto"}
    pool = ModelPool.load(resolve_specs(None, str(config)), log=lambda m: None)  # what app.py --config does
    entry = pool.get("SF-SpanDec")
    assert entry.threshold(None) == 0.5 and entry.model.strategy == "sf-spandec"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-m", "spandec.cli", "predict", "--config", str(config), "--text",
                          "Maria Rossi flew to Toronto ."], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["text"] == "Maria Rossi flew to Toronto ."
