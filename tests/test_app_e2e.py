"""End-to-end tests: ``python app.py`` on 127.0.0.1 with tiny models, driven by gradio_client (every endpoint).

The browser tests of every view (shipped checkpoints, screenshots) are in test_app_browser.py.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import pytest

from test_app_support import TEXT_EXAMPLE, build_tiny_models, model_args, start_app, stop_app, write_gold, write_results

TEXT = TEXT_EXAMPLE


@pytest.fixture(scope="module")
def server(tiny_encoder, tmp_path_factory):
    """The app served by ``python app.py`` in a subprocess; yields its URL."""
    tmp = tmp_path_factory.mktemp("app-e2e")
    paths = build_tiny_models(tiny_encoder, tmp / "models")
    proc, url = start_app(["--models", *model_args(paths, broken=str(tmp / "no-such-model")),
                           "--results", str(write_results(tmp / "results.json")), "--latency-sample", "4",
                           "--db", str(tmp / "annotations.db"), "--precision", "fp32"], tmp / "app.log")
    try:
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    from gradio_client import Client

    return Client(server, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")),
                  analytics_enabled=False)


def _data(table) -> list[list]:
    return table["data"] if isinstance(table, dict) else table


def _error(client, *args, api_name: str) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name)
    return str(info.value)


def test_api_parameter_names(client):
    """A gradio_client user sees named parameters, not t, m, thr, param_1."""
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = {ep: [p["parameter_name"] for p in info["parameters"]] for ep, info in api.items()}
    assert names["/highlight"] == ["text", "model", "threshold"]
    assert names["/tag_file"] == ["file", "model", "threshold", "whole"]
    assert names["/compare"] == ["text", "threshold"]
    assert names["/attention"] == ["text", "model", "span", "threshold", "start_token"]
    assert names["/span_filter"] == ["text", "model", "threshold", "start_word"]
    assert names["/span_choices"] == ["text", "model", "threshold"]
    assert names["/evaluate_conll"] == ["file", "sentences"]
    assert names["/annotate_open"] == ["project", "annotator", "order"]
    assert names["/annotate_add"] == ["project", "annotator", "span", "label"]  # aid: session state
    assert names["/annotate_accept"] == ["project", "annotator", "text_id", "order"]  # the text it accepts
    assert names["/annotate_score"] == ["project", "model", "threshold"]
    assert not [(ep, n) for ep, params in names.items() for n in params if n.startswith("param_")]


def test_models_endpoint_reports_the_broken_model(client):
    rows = {r[0]: r for r in _data(client.predict(api_name="/models"))}
    assert rows["Broken"][-1].startswith("failed")
    assert all(rows[n][-1].startswith("loaded") for n in ("Token", "PL-Marker", "SpanDec", "SF-SpanDec"))


def test_api_highlight_and_bad_input(client):
    page, table, info = client.predict(TEXT, "SF-SpanDec", 0.0, api_name="/highlight")
    assert _data(table) and "ms" in info
    assert all(f'data-label="{r[1]}"' in page and html.escape(r[0]) in page for r in _data(table))
    assert "Nothing to tag" in _error(client, "  \n ", "Token", 0.5, api_name="/highlight")
    assert "“Tag a file” tab" in _error(client, "a" * 100_000, "Token", 0.5, api_name="/highlight")
    assert "maximum" in _error(client, TEXT, "SF-SpanDec", 1.5, api_name="/highlight")
    assert "not available" in _error(client, TEXT, "Broken", 0.5, api_name="/highlight")
    markup = "<script>alert(1)</script> Maria 👍🏽 שלום \x07"
    page, _, info = client.predict(markup, "Token", 0.5, api_name="/highlight")
    assert "<script" not in page and "&lt;" in page and "alert(" in page and "👍🏽" in page  # shown as text
    assert client.predict(TEXT, "Token", 0.5, api_name="/highlight")[2]  # still up


def test_api_span_filter_and_attention(client):
    _, _, low, _ = client.predict(TEXT, "SF-SpanDec", 0.0, 1, api_name="/span_filter")
    _, _, high, _ = client.predict(TEXT, "SF-SpanDec", 0.9, 1, api_name="/span_filter")
    assert "kept 116 of 116" in low and "kept" in high and high != low
    choices = client.predict(TEXT, "SF-SpanDec", 0.0, api_name="/span_choices")
    value = choices["value"] if isinstance(choices, dict) else choices
    plot, caption = client.predict(TEXT, "SF-SpanDec", value or "0:2", api_name="/attention")
    assert "heads" in caption and plot
    assert "not a candidate" in _error(client, TEXT, "SF-SpanDec", "3:40", api_name="/attention")
    _, first = client.predict(TEXT, "SF-SpanDec", None, 0.0, api_name="/attention")  # no span: the first choice
    assert first == client.predict(TEXT, "SF-SpanDec", value, 0.0, api_name="/attention")[1]


def test_api_compare(client):
    out = client.predict(TEXT, 0.3, api_name="/compare")
    boxes, summary = out[:4], _data(out[4])  # a box per loaded model; the broken one is in the summary
    assert len(summary) == 5 and all(boxes)
    assert {r[0]: r for r in summary}["SpanDec"][4] == 116


def test_api_tag_file(client, tmp_path):
    from gradio_client import handle_file

    src = tmp_path / "texts.txt"
    src.write_text(f"{TEXT}\nKofi Mensah lives in Accra.\n", encoding="utf-8")
    files, summary, preview, _ = client.predict(handle_file(str(src)), "SF-SpanDec", 0.3, "one text per line",
                                                api_name="/tag_file")
    assert len(files) == 2 and "2** texts" in summary
    lines = Path(files[0]).read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["text"] for x in lines] == [TEXT, "Kofi Mensah lives in Accra."]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    assert "not valid JSON" in _error(client, handle_file(str(bad)), "Token", 0.5, "one text per line",
                                      api_name="/tag_file")


def test_api_cancel_tag_file(client, tmp_path):
    """A long file job of this session stops at its next forward pass when cancelled; the app stays up."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    assert client.predict(api_name="/cancel_tag_file") == "Nothing is running."
    src = tmp_path / "many.txt"
    src.write_text("\n".join([TEXT] * 3000) + "\n", encoding="utf-8")
    job = client.submit(handle_file(str(src)), "PL-Marker", 0.5, "one text per line", api_name="/tag_file")
    deadline = time.monotonic() + 60
    while client.predict(api_name="/cancel_tag_file") != "Cancelling…":
        assert time.monotonic() < deadline and not job.done(), "the job never ran"
        time.sleep(0.2)
    with pytest.raises(AppError, match="Cancelled"):
        job.result(timeout=60)
    assert client.predict(TEXT, "Token", 0.5, api_name="/highlight")[2]


def test_api_tradeoff(client, tmp_path):
    from gradio_client import handle_file

    plot, table, caption = client.predict(0.5, 8, api_name="/tradeoff")
    assert "stored results for conllpp" in caption
    assert {r[0]: r for r in _data(table)}["Token"][2] == 91.2
    gold = write_gold(tmp_path / "gold.conll")
    info = client.predict(handle_file(str(gold)), 50, api_name="/evaluate_conll")  # the key stays in the session
    assert "6** sentences" in info
    message = client.predict(1, api_name="/measure_latency")
    assert "Timed" in message and "(examples)" not in message  # timed on the uploaded sentences
    plot, table, caption = client.predict(0.5, 1, api_name="/tradeoff")
    assert "gold.conll (6 sentences, evaluated here)" in caption
    assert all(r[6] == "live" for r in _data(table))
