"""Streaming ``spandec predict --file``: lazy readers, shards, resume after a kill, bad records, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import spandec
from spandec.cli import main
from spandec.stream import iter_records, predict_file

from model_helpers import make

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
OVERFIT = FIXTURES / "overfit.conll"
REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tiny_encoder, tmp_path_factory) -> Path:
    """A tiny random SF-SpanDec saved to a folder, with a threshold low enough to predict something."""
    path = tmp_path_factory.mktemp("stream-model")
    make("sf-spandec", tiny_encoder, seed=3, max_span_words=4, threshold=0.0).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def texts() -> list[list[str]]:
    return [s.words for s in spandec.read_conll(OVERFIT)]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def same_entities(a: list[dict], b: list[dict]) -> bool:
    key = lambda e: (e["word_start_index"], e["word_end_index"], e["label"], e["span"])  # noqa: E731
    return [key(e) for e in a] == [key(e) for e in b] and all(
        abs(x["score"] - y["score"]) < 1e-4 for x, y in zip(a, b))


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_readers_give_the_same_records(tmp_path, texts) -> None:
    """.txt, .jsonl, CoNLL, Parquet and a datasets folder: same items, ids given or the input index."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    joined = [" ".join(w) for w in texts]
    txt = tmp_path / "in.txt"
    txt.write_text("\n\n".join(joined) + "\n")  # blank lines separate texts, they are not records
    jsonl = write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(joined)])
    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.table({"tokens": texts, "id": list(range(100, 100 + len(texts)))}), parquet, row_group_size=7)
    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": joined}).save_to_disk(str(folder))
    expect = {txt: (joined, list(range(20))), jsonl: (joined, [f"d{i}" for i in range(20)]),
              OVERFIT: (texts, list(range(20))), parquet: (texts, list(range(100, 120))), folder: (joined, list(range(20)))}
    for path, (items, ids) in expect.items():
        records = list(iter_records(str(path)))
        assert [r.item for r in records] == items and [r.id for r in records] == ids, path
        assert [r.index for r in records] == list(range(20)) and not any(r.error for r in records)
    assert [r.where for r in iter_records(str(txt))][:2] == [f"{txt}:1", f"{txt}:3"]
    assert next(iter_records(str(OVERFIT))).where == f"{OVERFIT}:1"


def test_stream_equals_predict_batch(model_dir, texts, tmp_path, capsys) -> None:
    """Output in input order, one record per input with its id, entities as ``predict_batch``; Parquet too."""
    items = [" ".join(w) for w in texts[:10]] + texts[10:]
    jsonl = write_jsonl(tmp_path / "in.jsonl", [{"text": x} if isinstance(x, str) else {"tokens": x, "id": f"t{i}"}
                                                for i, x in enumerate(items)])
    expected = spandec.load_model(str(model_dir), device="cpu").predict_batch(items, batch_size=4)
    assert sum(map(len, expected)) > 5  # the test model predicts something
    out = tmp_path / "out.jsonl"
    code, stdout, err = run_cli(capsys, "predict", model_dir, "--file", jsonl, "--output", out, "--shard-size", 3,
                                "--batch-size", 4)
    assert code == 0 and stdout == ""
    assert json.loads(err.strip().splitlines()[-1]) | {"output": None} == {
        "records": 20, "shards": 7, "tagged": 20, "errors": 0, "output": None, "errors_file": None}
    got = rows(out)
    assert [r["id"] for r in got] == list(range(10)) + [f"t{i}" for i in range(10, 20)]
    assert [r.get("text", r.get("tokens")) for r in got] == items
    assert all(same_entities(r["entities"], e) for r, e in zip(got, expected))
    assert not (tmp_path / "out.jsonl.parts").exists() and not (tmp_path / "out.errors.jsonl").exists()

    import pyarrow.parquet as pq

    code, _, _ = run_cli(capsys, "predict", model_dir, "--file", jsonl, "--output", tmp_path / "out.parquet",
                         "--shard-size", 8, "--batch-size", 4, "--quiet")
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert code == 0 and [r["id"] for r in table] == [str(r["id"]) for r in got]
    assert all(same_entities(r["entities"], e) for r, e in zip(table, expected))
    # standard output: the same records, in order
    code, stdout, _ = run_cli(capsys, "predict", model_dir, "--file", jsonl, "--shard-size", 3, "--batch-size", 4)
    assert code == 0 and [json.loads(line) for line in stdout.splitlines()] == got


def test_bad_records_skip_and_fail(model_dir, tmp_path, capsys) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"text": "Maria Lopez moved to Lima ."}, "{not json", {"text": "   "}, {"id": "long", "text": "word " * 30},
        {"tokens": []}, {"text": "Sony opened an office in Osaka ."}])
    code, _, err = run_cli(capsys, "predict", model_dir, "--file", bad, "--output", tmp_path / "x.jsonl")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"spandec predict: error: {bad}:2: not valid JSON (Expecting property name enclosed in double quotes)"

    out = tmp_path / "ok.jsonl"
    code, _, err = run_cli(capsys, "predict", model_dir, "--file", bad, "--output", out, "--on-error", "skip",
                           "--max-chars", 100, "--shard-size", 2, "--quiet")
    assert code == 0 and [r["id"] for r in rows(out)] == [0, 5]
    errors = rows(tmp_path / "ok.errors.jsonl")
    assert [(e["id"], e["index"], e["where"]) for e in errors] == [
        (1, 1, f"{bad}:2"), (2, 2, f"{bad}:3"), ("long", 3, f"{bad}:4"), (4, 4, f"{bad}:5")]
    assert errors[1]["error"].endswith("empty text") and "150 characters is over the limit of 100" in errors[2]["error"]
    assert sum("spandec predict: skipped record" in line for line in err.splitlines()) == 4
    assert json.loads(err.strip().splitlines()[-1])["errors"] == 4


def test_workers_two_processes_match_one(model_dir, texts, tmp_path, capsys) -> None:
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(" ".join(w) for w in texts * 3) + "\n")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run_cli(capsys, "predict", model_dir, "--file", txt, "--output", one, "--shard-size", 7, "--quiet")[0] == 0
    assert run_cli(capsys, "predict", model_dir, "--file", txt, "--output", two, "--shard-size", 7, "--quiet",
                   "--workers", 2)[0] == 0
    assert len(rows(one)) == 60 and rows(one) == rows(two)


def test_resume_after_kill(model_dir, texts, tmp_path, capsys) -> None:
    """SIGKILL a run after some shards, rerun: every record exactly once, equal to an uninterrupted run."""
    txt = tmp_path / "many.txt"
    n = 4000
    txt.write_text("\n".join(" ".join(texts[i % 20]) + f" {i}" for i in range(n)) + "\n")
    out = tmp_path / "out.jsonl"
    manifest = tmp_path / "out.jsonl.parts" / "manifest.json"
    cmd = [sys.executable, "-m", "spandec.cli", "predict", str(model_dir), "--file", str(txt), "--output", str(out),
           "--shard-size", "100", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if manifest.is_file() and len(json.loads(manifest.read_text() or "{}").get("done", {})) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(manifest.read_text())["done"]
    assert 3 <= len(done) < n // 100 and not out.exists()  # killed part-way

    code, _, err = run_cli(capsys, "predict", model_dir, "--file", txt, "--output", out, "--shard-size", 100,
                           "--min-score", 0.2, "--quiet")
    assert code == 2 and "was written for another job (min_score: 0.0, now 0.2)" in err.strip().splitlines()[-1]

    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    got = rows(out)
    assert [r["id"] for r in got] == list(range(n)) and [r["text"].split()[-1] for r in got] == [str(i) for i in range(n)]
    reference = tmp_path / "reference.jsonl"
    predict_file(str(model_dir), str(txt), str(reference), shard_size=1000, progress=False)
    ref = rows(reference)
    assert [(r["id"], r["text"]) for r in ref] == [(r["id"], r["text"]) for r in got]
    assert all(same_entities(a["entities"], b["entities"]) for a, b in zip(ref, got))
