"""The comparison scripts' bookkeeping: demo checkpoint cards trace every training stage."""

from __future__ import annotations

import importlib.util
import json

import pytest
from pathlib import Path

from model_helpers import make

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str):
    import sys

    if str(ROOT / "comparisons") not in sys.path:  # scripts import their siblings (plot.py) as run from there
        sys.path.insert(0, str(ROOT / "comparisons"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "comparisons" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(folder: Path, epochs: list[float], init_from: str | None, sentences: int, batch: int) -> Path:
    folder.mkdir(parents=True)
    history = [{"epoch": k + 1, "seconds": 10.0 * (k + 1), "dev": {"f1": f1}} for k, f1 in enumerate(epochs)]
    summary = {"strategy": "sf-spandec", "train_sentences": sentences, "dev_sentences": 1000 if batch == 16 else 3250,
               "init_from": init_from, "steps": 7 * len(epochs),
               "best_f1": max(epochs), "history": history,
               "args": {"epochs": len(epochs), "batch_size": batch, "per_device_batch_size": 16,
                        "freeze_word_embeddings": True}}
    (folder / "training.json").write_text(json.dumps(summary))
    return folder


def test_card_lists_every_stage(tmp_path, tiny_encoder) -> None:
    mdc = load_script("make_demo_checkpoints")
    first = write_run(tmp_path / "first", [10.0, 12.5], None, 14041, 64)
    second = write_run(tmp_path / "second", [20.0, 31.0, 30.0], str(first / "best"), 9000, 16)
    stages = mdc.lineage(second)
    assert [run.name for run, _ in stages] == ["first", "second"]
    assert mdc.lineage(first) == stages[:1]
    cmd = mdc.stage_command(*stages[1])
    assert "--epochs 3 --batch-size 16" in cmd and "--init-from runs/conllpp/first/best" in cmd
    assert "--max-train-sentences 9000 --max-dev-sentences 1000" in cmd and cmd.endswith("--output runs/conllpp/second")
    assert not any(flag in mdc.stage_command(*stages[0]) for flag in ("--init-from", "--max-train", "--max-dev"))
    text = mdc.card("sf-spandec", make("sf-spandec", tiny_encoder), second, None)
    assert "1. 2 epoch(s) on 14041 training sentences, effective batch 64" in text
    assert "2. 3 epoch(s) on 9000 training sentences, effective batch 16" in text
    assert "[20.0, 31.0, 30.0]" in text and "Best dev F1: 31.0" in text
    assert text.index("--output runs/conllpp/first") < text.index("--output runs/conllpp/second")


def results(parts: dict[str, tuple[float, float, dict[str, int], float]]) -> dict:
    """A compare.py-shaped results dict: strategy -> (precision, recall, gold per type, samples/s)."""
    strategies = {
        name: {"f1": round(200 * p * r / (p + r) / 100, 2), "precision": p, "recall": r,
               "per_type": {t: {"support": n} for t, n in gold.items()}, "kept_fraction": 1.0,
               "gflops": {"measured": 1.0}, "throughput": {"batch8": {"median": sps}}}
        for name, (p, r, gold, sps) in parts.items()}
    base = strategies["token"]["throughput"]["batch8"]["median"]
    for e in strategies.values():
        e["throughput"]["relative_to_token"] = round(e["throughput"]["batch8"]["median"] / base, 3)
    return {"dataset": "x", "sentences": 5, "machine": {}, "strategies": strategies}


def test_aggregate_means_and_pooled_f1() -> None:
    """Mean of per-part micro F1 vs micro F1 pooled over all parts' mentions (worked out by hand)."""
    agg = load_script("aggregate")
    a = results({"token": (50.0, 100.0, {"A": 10}, 100.0), "sf-spandec": (100.0, 100.0, {"A": 10}, 80.0)})
    b = results({"token": (100.0, 25.0, {"B": 12, "C": 8}, 200.0), "sf-spandec": (100.0, 50.0, {"B": 12, "C": 8}, 220.0)})
    summary = agg.aggregate({"a": a, "b": b})
    token = summary["strategies"]["token"]
    # token: a has TP 10 of 20 predicted, b TP 5 of 5; pooled P = 15/25, R = 15/30 -> F1 54.55
    assert token["mean_f1"] == round((66.67 + 40.0) / 2, 2) and token["pooled_f1"] == 54.55
    sf = summary["strategies"]["sf-spandec"]
    assert sf["pooled_f1"] == round(200 * 1.0 * (20 / 30) / (1 + 20 / 30), 2)
    assert sf["mean_relative_to_token"] == round((0.8 + 1.1) / 2, 3)
    assert summary["types"] == 3
    table = agg.markdown("demo", summary)
    assert "| token | 66.67 (100.0/s) | 40.00 (200.0/s) | 53.34 | 54.55 | 1.0 |" in table


def test_compare_names_and_interleaved_ratios(tmp_path, tiny_encoder, one_thread) -> None:
    """compare.py on tiny models: SpanDec stored under "spandec" (served as the SF weights at 0), ratios to token
    with their IQR in the strategies and the sweep, and the app's trade-off view finds every strategy's F1."""
    from spandec.app.tradeoff import load_stored_results
    from test_app_support import write_gold

    compare = load_script("compare")
    (tmp_path / "data" / "tiny").mkdir(parents=True)
    gold = write_gold(tmp_path / "data" / "tiny" / "test.txt", repeat=2)
    gold.write_text("-DOCSTART- O\n\n" + gold.read_text())  # one document: samples join its sentences
    models = {}
    for strategy in ("token", "sf-spandec"):
        make(strategy, tiny_encoder).save_pretrained(tmp_path / strategy)
        models[strategy] = tmp_path / strategy
    code = compare.main(["--dataset", "tiny", "--data-dir", str(tmp_path / "data"), "--model", f"token={models['token']}",
                         "--model", f"sf-spandec={models['sf-spandec']}", "--thresholds", "0,0.5",
                         "--flop-sentences", "2", "--out", str(tmp_path / "out"), "--batches-per-round", "1"])
    assert code == 0
    r = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert list(r["strategies"]) == ["token", "sf-spandec", "spandec"]
    assert r["strategies"]["spandec"]["served_as"] == "sf-spandec@0"
    sam = r["strategies"]["token"]["samples"]  # F1 on the paper's document-context samples, beside sentences
    assert sam["words"] == 60 and 1 <= sam["inputs"] < r["sentences"] and 0 <= sam["f1"] <= 100
    assert f"| token | {r['strategies']['token']['f1']:.2f} | {sam['f1']:.2f} (60 words) |" in (tmp_path / "out" / "tiny.md").read_text()
    assert r["strategies"]["spandec"]["checkpoint"] == str(models["sf-spandec"])
    assert r["strategies"]["token"]["throughput"]["relative_to_token"] == 1.0
    sf = r["strategies"]["sf-spandec"]["throughput"]
    assert sf["relative_to_token"] > 0 and sf["relative_to_token_iqr"] >= 0 and sf["batch8"]["rounds"] == 2
    assert [row["threshold"] for row in r["sf_sweep"]] == [0.0, 0.5]
    assert all(row["relative_to_token"] > 0 for row in r["sf_sweep"])
    stored = load_stored_results(tmp_path / "out" / "tiny.json")
    b8 = r["strategies"]["sf-spandec"]["throughput"]["batch8"]  # the keys readers use: the app, model cards
    assert b8["min"] <= b8["median"] <= b8["max"] and stored.latency_ms("sf-spandec", 8) == 1000.0 / b8["median"]
    assert f"| {b8['median']} [{b8['min']}-{b8['max']}] |" in (tmp_path / "out" / "tiny.md").read_text()
    assert {s: stored.f1(s) for s in ("token", "sf-spandec", "spandec")} == {
        s: r["strategies"][s]["f1"] for s in ("token", "sf-spandec", "spandec")}


def test_length_benchmark_appends_models(tmp_path, tiny_encoder, one_thread) -> None:
    """length.py: every grouping scored per model, the raw-text count check, and --append adding a model to the
    same file (refused on other data)."""
    from test_app_support import write_gold

    length = load_script("length")
    (tmp_path / "data" / "tiny").mkdir(parents=True)
    gold = write_gold(tmp_path / "data" / "tiny" / "test.txt", repeat=3)
    gold.write_text("-DOCSTART- O\n\n" + gold.read_text())
    for strategy in ("token", "sf-spandec"):
        make(strategy, tiny_encoder).save_pretrained(tmp_path / strategy)
    base = ["--dataset", "tiny", "--data-dir", str(tmp_path / "data"), "--ks", "1,4", "--chars", "150",
            "--out", str(tmp_path / "out"), "--name", "len"]
    assert length.main(base + ["--model", f"token={tmp_path / 'token'}"]) == 0
    assert length.main(base + ["--model", f"sf={tmp_path / 'sf-spandec'}", "--append"]) == 0
    r = json.loads((tmp_path / "out" / "len.json").read_text())
    assert list(r["models"]) == ["token", "sf"] and len(r["commands"]) == 2
    groups = list(r["models"]["token"]["settings"])
    assert groups == ["sentence", "paper samples (60 words)", "4 sentences joined", "whole document"]
    assert r["models"]["sf"]["settings"]["whole document"]["inputs"] == 1  # one document, fed whole
    check = r["models"]["sf"]["chars_check"]
    assert check["texts"] >= 1 and check["entities_sentence_by_sentence"] >= 0
    md = (tmp_path / "out" / "len.md").read_text()
    assert md.count("`python comparisons/length.py") == 2 and "| whole document | 1 |" in md
    with pytest.raises(SystemExit):  # other documents: not the same file's data
        length.main(base + ["--model", f"t2={tmp_path / 'token'}", "--append", "--ks", "1,8"])


def test_card_counts_a_shipped_checkpoints_stages(tmp_path, tiny_encoder) -> None:
    """A run warm-started from a shipped checkpoint: the card lists that checkpoint's recorded stages first and
    states the whole budget from the pretrained encoder."""
    mdc = load_script("make_demo_checkpoints")
    first = write_run(tmp_path / "first", [10.0, 12.5], None, 14041, 64)
    shipped = tmp_path / "shipped" / "spandec"
    shipped.mkdir(parents=True)
    (shipped / "README.md").write_text(mdc.card("sf-spandec", make("sf-spandec", tiny_encoder), first, None))
    warm = write_run(tmp_path / "warm", [20.0, 31.0, 30.0], str(shipped), 9000, 16)
    stages = mdc.lineage(warm)
    assert [t.get("card_line", "run")[:8] for _, t in stages] == ["2 epoch(", "run"]
    assert mdc.budget(stages) == (5, 14 + 21)
    text = mdc.card("sf-spandec", make("sf-spandec", tiny_encoder), warm, None)
    assert "1. 2 epoch(s) on 14041 training sentences, effective batch 64, 14 optimizer steps" in text
    assert "2. 3 epoch(s) on 9000 training sentences" in text
    assert "Budget from the pretrained encoder, warm starts included: 5 epochs, 35 optimizer steps." in text
    assert "--output runs/conllpp/first" in text and "--init-from runs/conllpp/spandec/best" in text


def test_threshold_sweep_matches_predict(tiny_encoder, overfit_data) -> None:
    """choose_threshold's re-scored sweep equals the model's own evaluation at each threshold; the choice
    respects the decoded-spans cap."""
    from spandec.evaluation import evaluate

    ct = load_script("choose_threshold")
    model = make("sf-spandec", tiny_encoder, seed=3)
    model.eval()
    rows = ct.sweep(model, overfit_data[:8], grid=(0.0, 0.3, 0.5, 0.9))
    for row in rows:
        ev = evaluate(model, overfit_data[:8], threshold=row["threshold"])
        assert row["f1"] == ev["f1"]
        assert row["decoded"] == round(ev["decoded"] / ev["candidates"], 4)
    assert [r["decoded"] for r in rows] == sorted((r["decoded"] for r in rows), reverse=True)
    cap = rows[1]["decoded"]
    chosen = ct.choose(rows, cap)
    assert chosen["decoded"] <= cap and chosen["f1"] == max(r["f1"] for r in rows if r["decoded"] <= cap)
    with pytest.raises(SystemExit):
        ct.choose(rows, -1.0)


def test_serving_benchmark_per_thread_count(tmp_path, tiny_encoder) -> None:
    """serving.py: F1 once, then each thread count's own interleaved run with median [min-max] samples/s and ratios
    against token classification at the same precision and thread count; the flat keys the app reads are the last
    count's."""
    import torch

    from test_app_support import write_gold

    serving = load_script("serving")
    gold = write_gold(tmp_path / "gold.txt", repeat=2)
    for strategy in ("token", "sf-spandec"):
        make(strategy, tiny_encoder).save_pretrained(tmp_path / strategy)
    threads = torch.get_num_threads()
    try:
        assert serving.main(["--models", f"Token={tmp_path / 'token'}", f"SF={tmp_path / 'sf-spandec'}", "--data",
                             str(gold), "--precisions", "fp32", "onnx", "--sentences", "8", "--batch1-sentences", "4",
                             "--batch-sizes", "1", "8", "--rounds", "2", "--latency-calls", "3", "--threads", "1", "2",
                             "--clock", "cpu", "--out", str(tmp_path / "serving")]) == 0
    finally:
        torch.set_num_threads(threads)
    result = json.loads((tmp_path / "serving.json").read_text())
    rows = result["results"]
    assert set(rows) == {"Token (fp32)", "Token (onnx)", "SF (fp32)", "SF (onnx)"} and result["settings"]["threads"] == [1, 2]
    for key, row in rows.items():
        assert set(row["threads"]) == {"1", "2"} and 0 <= row["f1"] <= 100
        for t in row["threads"].values():
            assert t["samples_per_s_b8_min"] <= t["samples_per_s_b8"] <= t["samples_per_s_b8_max"]
        assert row["samples_per_s_b8"] == row["threads"]["2"]["samples_per_s_b8"]  # the app reads the last count's
    for t in ("1", "2"):
        sf, token = rows["SF (onnx)"]["threads"][t], rows["Token (onnx)"]["threads"][t]
        assert sf["x_token_same_precision_b8"] == round(sf["samples_per_s_b8"] / token["samples_per_s_b8"], 2)
        assert rows["Token (onnx)"]["threads"][t]["x_token_same_precision_b8"] == 1.0
    md = (tmp_path / "serving.md").read_text()
    assert "| form, 1 thread |" in md and "| form, 2 threads |" in md and md.count("| SF (onnx) |") == 3


def test_sf_sweep_refreshes_the_stored_curve(tmp_path, tiny_encoder, one_thread) -> None:
    """sf_sweep.py replaces only the results file's sf_sweep: F1 and spans decoded per threshold as evaluate() gives
    them, samples/s with the ratio to token, and the app's trade-off view reads the new curve at its batch size."""
    from spandec import load_model
    from spandec.app.tradeoff import load_stored_results
    from spandec.data import read_conll
    from spandec.evaluation import evaluate
    from test_app_support import write_gold

    sweep = load_script("sf_sweep")
    (tmp_path / "data" / "tiny").mkdir(parents=True)
    gold = write_gold(tmp_path / "data" / "tiny" / "test.txt", repeat=2)
    for strategy in ("token", "sf-spandec"):
        make(strategy, tiny_encoder).save_pretrained(tmp_path / strategy)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"dataset": "tiny", "strategies": {"token": {"f1": 50.0}},
                                   "sf_sweep": [{"threshold": 0.3, "f1": 1.0, "kept_fraction": 0.5}]}))
    code = sweep.main(["--model", str(tmp_path / "sf-spandec"), "--token", str(tmp_path / "token"), "--dataset", "tiny",
                       "--data-dir", str(tmp_path / "data"), "--thresholds", "0", "0.5", "--sentences", "8",
                       "--rounds", "2", "--out", str(tmp_path / "out"), "--update", str(results)])
    assert code == 0
    stored = json.loads(results.read_text())
    assert stored["strategies"] == {"token": {"f1": 50.0}}  # the rest as it was
    rows = stored["sf_sweep"]
    assert [r["threshold"] for r in rows] == [0.0, 0.5]
    sf = load_model(tmp_path / "sf-spandec", device="cpu")
    for r in rows:
        ev = evaluate(sf, read_conll(gold), batch_size=8, threshold=r["threshold"])
        assert r["f1"] == ev["f1"] and r["kept_fraction"] == round(ev["decoded"] / ev["candidates"], 4)
        assert r["samples_per_second_min"] <= r["samples_per_second"] <= r["samples_per_second_max"]
        ratio = r["samples_per_second"] / stored["sf_sweep_run"]["token_samples_per_second"]
        assert r["relative_to_token"] == round(ratio, 4)
    assert rows[0]["kept_fraction"] == 1.0 and stored["sf_sweep_run"]["batch_size"] == 8
    view = load_stored_results(results)
    assert view.sweep_batch == 8 and [r["threshold"] for r in view.sweep] == [0.0, 0.5]
    assert (tmp_path / "out" / "sf-sweep.md").read_text().count("\n| 0") == 2
