"""Ray Data: ``predict_dataset`` and ``spandec predict --ray`` on a local Ray cluster started here."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

import spandec
from spandec.cli import main

from model_helpers import make

ray = pytest.importorskip("ray")

OVERFIT = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "overfit.conll"


@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU local Ray cluster (short temp path: Ray's socket paths have a length limit), shut down after."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(num_cpus=2, _temp_dir=temp, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(tiny_encoder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ray-model")
    make("spandec", tiny_encoder, seed=5, max_span_words=4).save_pretrained(path)
    return path


def keys(entities: list[dict]) -> list[tuple]:
    return [(e["word_start_index"], e["word_end_index"], e["label"], e["span"], round(e["score"], 4)) for e in entities]


def test_predict_dataset_and_cli(cluster, model_dir, tmp_path, capsys) -> None:
    from spandec.distributed import predict_dataset

    words = [s.words for s in spandec.read_conll(OVERFIT)]
    items = [" ".join(w) for w in words[:10]] + words[10:]
    expected = spandec.load_model(str(model_dir), device="cpu").predict_batch(items, batch_size=8, flat=False,
                                                                            min_score=0.3)
    assert sum(map(len, expected)) > 5
    rows = [{"id": i, "text": x, "tokens": None} if isinstance(x, str) else {"id": i, "text": None, "tokens": x}
            for i, x in enumerate(items)] + [{"id": 99, "text": "  ", "tokens": None}]
    ds = ray.data.from_items(rows)
    out = predict_dataset(ds, str(model_dir), batch_size=6, concurrency=2, flat=False, min_score=0.3).take_all()
    out.sort(key=lambda r: r["id"])
    assert [r["id"] for r in out] == list(range(20)) + [99]
    assert [keys(r["entities"]) for r in out[:20]] == [keys(e) for e in expected]
    assert out[20]["entities"] is None and out[20]["error"] == "empty text"

    # the CLI on the running cluster: same records as the single-process path, in input order
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"r{i}", "tokens": w}) + "\n" for i, w in enumerate(words)))
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    common = ["predict", str(model_dir), "--file", str(jsonl), "--shard-size", "6", "--all-spans", "--min-score", "0.3",
              "--quiet"]
    assert main([*common, "--output", str(local)]) == 0
    assert main([*common, "--output", str(remote), "--ray", "--workers", "2"]) == 0
    capsys.readouterr()
    a = [json.loads(line) for line in local.read_text().splitlines()]
    b = [json.loads(line) for line in remote.read_text().splitlines()]
    assert [r["id"] for r in b] == [f"r{i}" for i in range(20)] and [r["tokens"] for r in b] == words
    assert [keys(r["entities"]) for r in a] == [keys(r["entities"]) for r in b]
    assert not (tmp_path / "ray.jsonl.parts").exists()


def test_ray_runner_keeps_a_bounded_number_of_shards_in_flight(cluster, model_dir) -> None:
    """``--ray`` reads the next shard only when one comes back: never more than workers x per_worker shards are out
    of the input (in the driver and the object store) at once, and every shard comes back tagged as locally."""
    from spandec.distributed import ray_runner

    words = [s.words for s in spandec.read_conll(OVERFIT)]
    shards = [(k, [" ".join(w) for w in words[k % 20: k % 20 + 2]]) for k in range(16)]
    pulled, out, peak = [], {}, 0

    def source():
        for shard in shards:
            pulled.append(shard[0])
            yield shard

    settings = {"batch_size": 8, "flat": False, "min_score": 0.3}
    run = ray_runner(str(model_dir), "local", 2, {"device": "cpu"}, settings, per_worker=2)
    for k, entities in run(source(), lambda n: None):
        peak = max(peak, len(pulled) - len(out))  # shards taken from the input and not yet back
        out[k] = entities
    assert sorted(out) == list(range(16)) and peak <= 4
    local = spandec.load_model(str(model_dir), device="cpu")
    for k, items in shards[:3]:
        assert [keys(e) for e in out[k]] == [keys(e) for e in local.predict_batch(items, **settings)]
