"""Unit tests of the web app's trade-off view (spandec.app.tradeoff): stored and served results, uploaded gold
data rescored without the encoder, GFLOPs, on tiny random models."""

from __future__ import annotations

import json

import pytest

from spandec.app import tradeoff as app_tradeoff
from spandec.app.context import AppContext, InputError
from spandec.data import read_conll
from spandec.evaluation import evaluate
from test_app_logic import ctx, paths  # noqa: F401  (the same module-scoped fixtures, built for this module)
from test_app_support import write_gold, write_results


# ----- trade-off --------------------------------------------------------------------------------
def test_tradeoff_stored_results(ctx, tmp_path):
    fig, rows, caption = app_tradeoff.tradeoff(ctx, 0.5, 8, "")
    assert rows == [] and "No stored results" in caption
    ctx_stored = AppContext(ctx.pool, results_path=write_results(tmp_path / "r.json"), workdir=tmp_path)
    fig, rows, caption = app_tradeoff.tradeoff(ctx_stored, 0.5, 8, "")
    by = {r[0]: r for r in rows}
    assert by["Token"][2] == 91.2 and by["Token"][5] == 2.5 and by["Token"][6] == "stored"
    assert by["SF-SpanDec"][2] == 92.3 and by["SF-SpanDec"][8] == 20.0
    assert "stored results for conllpp test" in caption
    stored = app_tradeoff.load_stored_results(ctx_stored.results_path)
    assert stored.gflops("token") == 1.95 and stored.gflops("spandec") == 2.9
    assert stored.latency_ms("token", 1) == 6.0 and stored.latency_ms("pl-marker", 32) == 20.0
    names = [t.name for t in fig.data]
    assert "SF-SpanDec over thresholds" in names and any(n.startswith("threshold") for n in names)
    (tmp_path / "partial.json").write_text('{"strategies": {"token": {"f1": "n/a"}}, "sf_sweep": [1, null]}')
    (tmp_path / "broken.json").write_text("{oops")
    for name in ("partial.json", "broken.json", None):
        ctx_stored.results_path = None if name is None else tmp_path / name
        app_tradeoff.tradeoff(ctx_stored, 0.5, 1, "")  # tolerated


def test_tradeoff_points_at_the_batch_size_of_the_form_served(ctx, tmp_path):
    """Every latency is the served form's at the batch size shown (serving.json beside the results, per precision);
    the stored SF-SpanDec curve (fp32, batch 8) is drawn only where it applies; "scores of" names the form."""
    results = write_results(tmp_path / "conllpp.json")
    forms = {f"{m} (fp32)": {"model": m, "precision": "fp32", "strategy": s, "f1": f1, "entity_precision": f1 + 1,
                             "entity_recall": f1 - 1, "p50_ms": ms, "samples_per_s_b8": 8000 / ms,
                             "samples_per_s_b32": 64000 / ms}
             for m, s, f1, ms in [("Token", "token", 91.0, 4.0), ("SF-SpanDec", "sf-spandec", 92.0, 5.0)]}
    (tmp_path / "serving.json").write_text(json.dumps({"results": forms}), encoding="utf-8")
    c = AppContext(ctx.pool, results_path=results, workdir=tmp_path)
    ms, names = {}, {}
    for bs in (1, 8, 32):
        fig, rows, caption = app_tradeoff.tradeoff(c, 0.5, bs, "")
        by = {r[0]: r for r in rows}
        ms[bs] = (by["Token"][5], by["SF-SpanDec"][5])
        names[bs] = [t.name for t in fig.data]
        assert by["Token"][2:5] == [91.0, 92.0, 90.0] and by["Token"][9] == "fp32"
        assert by["PL-Marker"][9] == "fp32" and by["PL-Marker"][3] is None  # stored fp32 row: no P/R stored
    assert ms[1] == (4.0, 5.0) and ms[8] == (0.5, 0.62) and ms[32] == (0.06, 0.08)
    assert "SF-SpanDec over thresholds" in names[8] and "SF-SpanDec over thresholds" not in names[32]
    assert any(n.startswith("SF-SpanDec (threshold 0.50)") for n in names[32])
    # at batch 8 the star is the served form's figure (1000 / 1600 samples/s) and sits on the stored fp32 curve,
    # scaled to pass through it at the default threshold 0.5 (stored there: 1000 / 350)
    assert ctx.pool.get("SF-SpanDec").model.config.threshold == 0.5
    fig, _, _ = app_tradeoff.tradeoff(c, 0.5, 8, "")
    curve = next(t for t in fig.data if t.name == "SF-SpanDec over thresholds")
    scale = (1000 / 1600) / (1000 / 350)
    assert list(curve.x) == pytest.approx([1000 / sps * scale for sps in (300.0, 350.0, 380.0)])
    _, rows, caption = app_tradeoff.tradeoff(c, 0.9, 32, "")
    by = {r[0]: r for r in rows}
    assert by["SF-SpanDec"][5] is None and "press" in by["SF-SpanDec"][6]  # no latency stored at this threshold
    assert by["SF-SpanDec"][2] == 85.0 and "sweep" in by["SF-SpanDec"][9]
    assert "curve is stored for fp32 at batch size 8 only" in caption


def test_tradeoff_upload_rescores_without_the_encoder(ctx, tmp_path, monkeypatch):
    gold = write_gold(tmp_path / "gold.conll", repeat=2)
    key, summary = app_tradeoff.evaluate_upload(ctx, str(gold), 100)
    assert "12** sentences" in summary
    sentences = read_conll(gold)
    model = ctx.pool.get("SF-SpanDec").model
    expected = {t: evaluate(model, sentences, threshold=t)["f1"] for t in (0.0, 0.45, 0.9)}
    monkeypatch.setattr(model, "encode", lambda *a, **k: pytest.fail("the encoder ran again"))
    ev = ctx.evaluations[key]
    assert ev.span_scores["SpanDec"] is ev.span_scores["SF-SpanDec"]
    for t, f1 in expected.items():
        assert app_tradeoff.rescore(ev, "SF-SpanDec", t)["f1"] == f1
    fig, rows, caption = app_tradeoff.tradeoff(ctx, 0.45, 8, key)
    by = {r[0]: r for r in rows}
    assert by["SF-SpanDec"][2] == expected[0.45] and "gold.conll" in caption
    monkeypatch.undo()
    message = app_tradeoff.measure(ctx, 1, key)
    assert "Timed" in message
    fig, rows, caption = app_tradeoff.tradeoff(ctx, 0.45, 1, key)
    assert all(r[6] == "live" and r[5] > 0 for r in rows)
    assert [t.name for t in fig.data].count("SF-SpanDec over thresholds") == 1
    with pytest.raises(InputError, match="Batch size"):
        app_tradeoff.measure(ctx, 3, key)
    bad = tmp_path / "bad.conll"
    bad.write_text("Maria B-PER extra\nRossi\n")
    with pytest.raises(InputError, match="Could not read bad.conll"):
        app_tradeoff.evaluate_upload(ctx, str(bad), 10)


def test_gflops(ctx):
    texts = ["Maria Rossi flew to Toronto .".split()]
    sf = ctx.pool.get("SF-SpanDec").model
    full, pruned = app_tradeoff.model_gflops(sf, texts, 1.0), app_tradeoff.model_gflops(sf, texts, 0.1)
    assert 0 < pruned < full
    for name in ("Token", "PL-Marker"):
        assert app_tradeoff.model_gflops(ctx.pool.get(name).model, texts) > 0
