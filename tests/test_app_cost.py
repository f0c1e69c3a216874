"""The app's bounded cost per request (spandec.app.cost), fair model locks, cancellable jobs, work-folder pruning,
stored-results names, and the app's downloads reading back exactly."""

from __future__ import annotations

import json
import os
from pathlib import Path
import threading
import time

import pytest

from spandec.app import batch as app_batch
from spandec.app import cost as app_cost
from spandec.app import highlight
from spandec.app import tradeoff as app_tradeoff
from spandec.app.context import AppContext, Cancelled, FairLock, InputError, Limits
from spandec.app.pool import ModelPool, parse_specs
from spandec.data import read_conll
from spandec.inputs import read_inputs
from spandec.spans import Document
from test_app_support import TEXT_EXAMPLE as TEXT
from test_app_support import build_tiny_models, model_args, write_gold, write_results

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ctx(tiny_encoder, tmp_path_factory):
    paths = build_tiny_models(tiny_encoder, tmp_path_factory.mktemp("cost-models"))
    pool = ModelPool.load(parse_specs(model_args(paths)), log=lambda m: None)
    return AppContext(pool, limits=Limits(max_chars=20_000, max_upload_bytes=200_000),
                      workdir=tmp_path_factory.mktemp("work"))


def test_estimate_counts_the_work(ctx):
    """Words, windows, candidate spans and GFLOPs grow with the text; PL-Marker costs the most per word."""
    pl = ctx.pool.get("PL-Marker").model
    short = app_cost.estimate("PL-Marker", pl, [TEXT])
    n = len(Document.from_input(TEXT).words)
    assert (short.words, short.windows, short.texts) == (n, 1, 1)
    assert short.spans == sum(min(pl.config.max_span_words, n - i) for i in range(n))
    long = app_cost.estimate("PL-Marker", pl, [" ".join([TEXT] * 20)])
    assert long.words == 20 * n and long.windows > 1 and long.gflops > 15 * short.gflops
    token = app_cost.estimate("Token", ctx.pool.get("Token").model, [" ".join([TEXT] * 20)])
    assert token.spans == 0 and token.seconds < long.seconds


def test_over_budget_requests_are_refused_with_what_fits(ctx):
    big = " ".join([TEXT] * 40)
    pl = app_cost.estimate("PL-Marker", ctx.pool.get("PL-Marker").model, [big])
    limited = AppContext(ctx.pool, limits=Limits(max_chars=20_000, request_seconds=pl.seconds / 4), workdir=ctx.workdir)
    fit = app_cost.words_that_fit(pl, pl.seconds / 4)
    assert pl.words / 5 < fit <= pl.words / 4
    with pytest.raises(InputError, match=rf"^PL-Marker takes at most about {fit:,} words per request; this text has "
                                         rf"{pl.words:,} \("):
        highlight.highlight(limited, big, "PL-Marker", 0.5)
    with pytest.raises(InputError, match=r"^Running every model on this text .* needs about"):
        highlight.compare(limited, big, 0.5)
    segs, rows, info = highlight.highlight(limited, TEXT, "PL-Marker", 0.5)  # a sentence fits
    assert "PL-Marker" in info


def test_fair_lock_lets_waiters_in_between_passes():
    """A long job yielding its lock at every pause lets a light request run before its next pass."""
    lock, order = FairLock(), []
    lock.acquire()
    light = threading.Thread(target=lambda: (lock.acquire(), order.append("light"), lock.release()))
    light.start()
    time.sleep(0.2)  # the light request is waiting
    order.append("pass 1")
    lock.yield_turn()
    order.append("pass 2")
    lock.release()
    light.join(5)
    assert order == ["pass 1", "light", "pass 2"]
    lock.acquire()
    lock.yield_turn()  # nobody waiting: keeps the lock
    lock.release()


def test_jobs_cancel_and_release_the_model(ctx, tmp_path):
    texts = tmp_path / "many.txt"
    texts.write_text("\n".join([TEXT] * 40) + "\n", encoding="utf-8")
    seen = []

    def progress(p, desc):
        seen.append(p)
        if len(seen) == 2:
            assert ctx.cancel("session-1")

    with pytest.raises(Cancelled):
        app_batch.tag_file(ctx, str(texts), "SF-SpanDec", 0.5, progress=progress, batch_size=4, session="session-1")
    assert len(seen) == 2 and not ctx.cancel("session-1")  # stopped at once; the job is gone
    lock = ctx.lock(ctx.pool.get("SF-SpanDec").model)
    assert lock.acquire() and lock.release() is None  # not left held


def test_job_budget_and_upload_sentence_length(ctx, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join([TEXT] * 5) + "\n", encoding="utf-8")
    tight = AppContext(ctx.pool, limits=Limits(job_seconds=1e-6), workdir=ctx.workdir)
    with pytest.raises(InputError, match="^SF-SpanDec takes at most about .* words per request; texts.txt has"):
        app_batch.tag_file(tight, str(texts), "SF-SpanDec", 0.5)
    long = tmp_path / "long.conll"
    long.write_text("\n".join(f"w{i} O" for i in range(5000)) + "\n", encoding="utf-8")  # one 5,000-word sentence
    small = AppContext(ctx.pool, limits=Limits(max_chars=2000, max_file_chars=2000), workdir=ctx.workdir)
    for call in (lambda: app_batch.tag_file(small, str(long), "Token", 0.5),
                 lambda: app_tradeoff.evaluate_upload(small, str(long), 10)):
        with pytest.raises(InputError, match=r"long.conll: (text|sentence) 1 has 28,890 characters; each .* at most 2,000"):
            call()


def test_work_folder_pruned_by_age(ctx, tmp_path):
    c = AppContext(ctx.pool, workdir=tmp_path / "work")
    old = c.new_dir("tagged")
    (old / "x.jsonl").write_text("{}\n")
    past = time.time() - c.limits.max_work_files_age - 10
    os.utime(old, (past, past))
    fresh = c.new_dir("tagged")
    assert not old.exists() and fresh.exists() and c.prune() == 0


def test_tag_file_downloads_read_back(ctx, tmp_path):
    """JSONL keeps every text and token exactly; CoNLL (word gold pred) reads back with the gold in column 2."""
    src = tmp_path / "in.jsonl"
    rows = [{"text": "Rome\u2028is nice ."}, {"tokens": ["Kofi", "Mensah", "lives", "in", "Accra"]}]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    files, summary, *_ = app_batch.tag_file(ctx, str(src), "Token", 0.5)
    assert read_inputs(files[0]).items == read_inputs(src).items and len(files) == 2
    src.write_text(json.dumps({"tokens": ["New York", "is", "big"]}) + "\n", encoding="utf-8")
    files, summary, *_ = app_batch.tag_file(ctx, str(src), "Token", 0.5)
    assert len(files) == 1 and read_inputs(files[0]).items == [["New York", "is", "big"]]
    assert "No CoNLL download:" in summary and "text 1, word 1: 'New York' holds whitespace" in summary
    gold = write_gold(tmp_path / "gold.conll")
    files, summary, *_ = app_batch.tag_file(ctx, str(gold), "SF-SpanDec", 0.5)
    back, original = read_conll(files[1], note=None), read_conll(gold)
    assert [(s.words, s.tags) for s in back] == [(s.words, s.tags) for s in original]


def test_stored_results_names_from_compare(ctx, tmp_path):
    """compare.py's keys ("spandec", older "spandec (sf-spandec@0)") give the SpanDec row its F1, no extra point."""
    path = write_results(tmp_path / "r.json")
    data = json.loads(path.read_text())
    data["strategies"]["spandec (sf-spandec@0)"] = data["strategies"].pop("spandec")
    path.write_text(json.dumps(data))
    stored = AppContext(ctx.pool, results_path=path, workdir=tmp_path)
    fig, rows, _ = app_tradeoff.tradeoff(stored, 0.5, 8, "")
    by = {r[0]: r for r in rows}
    assert by["SpanDec"][2] == 92.4 and not any("(stored)" in r[0] for r in rows)
    assert not any("(stored)" in (t.name or "") for t in fig.data)
    star = next(t for t in fig.data if (t.name or "").startswith("threshold"))
    curve = next(t for t in fig.data if t.name == "SF-SpanDec over thresholds")
    assert star.x[0] == pytest.approx(1000 / 350.0) and star.x[0] in curve.x  # the star on its own curve


def test_default_work_folder_removed_at_exit(tmp_path):
    import subprocess
    import sys

    code = ("from spandec.app.context import AppContext; from spandec.app.pool import ModelPool; "
            "c = AppContext(ModelPool()); d = c.new_dir('tagged'); (d / 'x.jsonl').write_text('{}'); print(c.workdir)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    folder = Path(out.stdout.strip().splitlines()[-1])
    assert folder.name.startswith("spandec-app-") and not folder.exists()
    kept = AppContext(ModelPool(), workdir=tmp_path / "mine")  # a folder given by the caller is the caller's
    kept.new_dir("tagged")
    assert (tmp_path / "mine").is_dir()
