"""Compare trained strategies on one dataset's test set: F1, throughput, latency, GFLOPs, memory.

Usage (CoNLL++, the checkpoints trained by comparisons/train_all.sh):

    python comparisons/compare.py --dataset conllpp \
        --model token=runs/conllpp/token/best --model pl-marker=runs/conllpp/pl-marker/best \
        --model sf-spandec=runs/conllpp/sf-spandec/best [--model spandec=runs/conllpp/spandec/best]

Writes comparisons/results/<dataset>.json and <dataset>.md. Without a separate SpanDec
checkpoint, SpanDec is measured as the SF-SpanDec weights at threshold 0 (stored under "spandec", with
"served_as": "sf-spandec@0"). Throughput: every model and every sweep threshold measured in one interleaved
run (batch by batch, each batch's fastest of --repeats runs, one batch a round; spandec.benchmark.interleaved),
timed on the CPU clock with one torch thread by default (samples/s per core; other jobs on the machine do not
count); ratios to token are the median of the per-round ratios with their interquartile range. ``--throughput-only`` measures just that (quick ratio checks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from spandec import load_model
from spandec.benchmark import (average_sizes, interleaved, latency, machine_info, measured_gflops, peak_memory_mb,
                               round_summary, sf_sweep)
from spandec.data import data_dir, read_dataset_dir
from spandec.evaluation import evaluate
from spandec.flops import model_gflops
from spandec.samples import PAPER_SAMPLE_WORDS, document_samples
from spandec.spans import Document

THRESHOLDS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.95]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="folder under the data dir (e.g. conllpp, crossner/ai, bc5cdr)")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default $SPANDEC_DATA_DIR or ../shared/data)")
    p.add_argument("--model", action="append", required=True, help="STRATEGY=PATH of a trained model (repeatable)")
    p.add_argument("--passes", "--rounds", type=int, default=1, dest="passes",
                   help="interleaved passes over the test set (default 1)")
    p.add_argument("--batches-per-round", type=int, default=1, help="batches per model in one short round (default 1)")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of each batch per model, in turns; the fastest counts (default 3)")
    p.add_argument("--clock", choices=("auto", "wall", "cpu"), default="auto",
                   help="throughput timed in process CPU time (on a machine shared with other jobs only the model's "
                        "own work counts) or wall time; auto: cpu for models on the CPU, wall on a GPU (default auto)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: 1 with the CPU clock, so samples/s are per core; else torch's)")
    p.add_argument("--no-spandec", action="store_true",
                   help="do not measure the SF-SpanDec weights at threshold 0 as SpanDec")
    p.add_argument("--throughput-only", action="store_true", help="measure only the interleaved throughput")
    p.add_argument("--max-test", type=int, default=None, help="use only the first N test sentences")
    p.add_argument("--sample-words", type=int, default=PAPER_SAMPLE_WORDS,
                   help="also report F1 on document-context samples of up to N words, the paper's test inputs "
                        "(default %(default)s; 0: sentences only)")
    p.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)),
                   help="SF-SpanDec sweep thresholds, comma-separated (default %(default)s)")
    p.add_argument("--flop-sentences", type=int, default=300, help="test sentences run under FlopCounterMode (default 300)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"), help="results folder")
    p.add_argument("--name", default=None, help="results file name (default: the dataset name)")
    args = p.parse_args(argv)
    try:
        thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    except ValueError:
        p.error(f"--thresholds: not a comma-separated list of numbers: {args.thresholds!r}")

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    root = Path(args.data_dir) if args.data_dir else data_dir()
    test = read_dataset_dir(root / args.dataset)["test"][: args.max_test]
    models = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        models[name] = (load_model(path), path)
    if args.clock == "auto":
        args.clock = "wall" if any(m.device.type == "cuda" for m, _ in models.values()) else "cpu"
    if args.threads or args.clock == "cpu":
        torch.set_num_threads(args.threads or 1)
    entries = {name: (m, {}) for name, (m, _) in models.items()}
    served_as = {}
    if "sf-spandec" in models and "spandec" not in models and not args.no_spandec:
        entries["spandec"] = (models["sf-spandec"][0], {"threshold": 0.0})
        served_as["spandec"] = "sf-spandec@0"
    results: dict = {"dataset": args.dataset, "split": "test", "sentences": len(test), "machine": machine_info(),
                     "strategies": {}}
    if args.throughput_only:
        results["throughput"] = measure_throughput(entries, models, test, thresholds, args)
        write(results, args, text=json.dumps(results["throughput"]["ratios"], indent=2) + "\n")
        return 0
    first = next(iter(models.values()))[0]
    sizes = average_sizes(first, test)
    results["average_sizes"] = sizes
    for name, (model, options) in entries.items():
        print(f"[{name}] evaluating", file=sys.stderr, flush=True)
        ev = evaluate(model, test, batch_size=8, **options)
        kept = ev["decoded"] / ev["candidates"] if ev.get("candidates") else 1.0
        samples = {}
        if args.sample_words:
            inputs = document_samples(test, args.sample_words)
            sev = evaluate(model, inputs, batch_size=8, **options)
            samples = {"samples": {"words": args.sample_words, "inputs": len(inputs), "f1": sev["f1"],
                                   "precision": sev["precision"], "recall": sev["recall"]}}
        sub = test[: args.flop_sentences]
        entry = {
            "checkpoint": models.get(name, models.get(served_as.get(name, "").split("@")[0], (None, None)))[1],
            **({"served_as": served_as[name]} if name in served_as else {}),
            "options": options,
            "f1": ev["f1"], "precision": ev["precision"], "recall": ev["recall"], "per_type": ev["per_type"], **samples,
            "unreachable_gold": ev.get("unreachable_gold", 0),
            "kept_fraction": round(kept, 4),
            "latency_ms": {"batch1": latency(model, test, batch_size=1, **options)},
            "gflops": {
                "paper_S44_M324": round(model_gflops(model, 44, 324), 3),
                "formula_real": round(model_gflops(model, sizes["S"], sizes["M"], kept), 3),
                "measured": measured_gflops(model, sub, batch_size=8, **options)["per_sentence"],
                "real_S": sizes["S"], "real_M": sizes["M"],
            },
            "peak_memory_mb": peak_memory_mb(lambda: model.predict_candidates(
                [Document.from_input(s.words) for s in test[:400]], batch_size=8, **options), model.device),
        }
        start = time.perf_counter()
        model.predict_candidates([Document.from_input(s.words) for s in test], batch_size=32, **options)
        entry["throughput_batch32"] = round(len(test) / (time.perf_counter() - start), 1)
        training = Path(entry["checkpoint"] or ".").parent / "training.json"
        if training.is_file():
            t = json.loads(training.read_text())
            entry["training"] = {"epochs": len(t.get("history", [])), "train_sentences": t.get("train_sentences"),
                                 "seconds": t["history"][-1]["seconds"] if t.get("history") else None,
                                 "best_dev_f1": t.get("best_f1"), "init_from": t.get("init_from")}
        results["strategies"][name] = entry
    sweep_eval = sf_sweep(models["sf-spandec"][0], test, thresholds, batch_size=8) if "sf-spandec" in models else []
    tp = measure_throughput(entries, models, test, thresholds, args)
    for name, v in tp["models"].items():
        if name in results["strategies"]:
            results["strategies"][name]["throughput"] = {"batch8": {**v, **round_summary(v)},
                                                         "relative_to_token": v["ratio"]["median"],
                                                         "relative_to_token_iqr": v["ratio"]["iqr"]}
    for row in sweep_eval:
        v = tp["models"][f"sf-spandec@{row['threshold']:g}"]
        row["samples_per_second"], row["relative_to_token"] = v["samples_per_second"], v["ratio"]["median"]
    if sweep_eval:
        results["sf_sweep"] = sweep_eval
    results["throughput_run"] = {k: v for k, v in tp.items() if k != "models"}
    write(results, args, text=markdown(results))
    return 0


def measure_throughput(entries: dict, models: dict, test, thresholds, args) -> dict:
    """Every entry and every SF threshold interleaved batch by batch at batch 8; ratios to token (else the first)."""
    run = dict(entries)
    if "sf-spandec" in models:
        for t in thresholds:
            run[f"sf-spandec@{t:g}"] = (models["sf-spandec"][0], {"threshold": t})
    baseline = "token" if "token" in run else next(iter(run))
    print(f"interleaved throughput: {len(run)} configurations, baseline {baseline}", file=sys.stderr, flush=True)
    tp = interleaved(run, test, batch_size=8, batches_per_round=args.batches_per_round, passes=args.passes,
                     repeats=args.repeats, baseline=baseline, clock=args.clock)
    tp["ratios"] = {name: v["ratio"] for name, v in tp["models"].items()}
    return tp


def write(results: dict, args, text: str) -> None:
    """results/<name>.json and .md, and the Markdown on standard output."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or args.dataset.replace("/", "-")
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{name}.md").write_text(text)
    print(text)


def markdown(r: dict) -> str:
    """A paper-shaped Markdown table of one results dict."""
    lines = [f"## {r['dataset']} ({r['split']}, {r['sentences']} sentences)", "",
             f"Machine: {r['machine'].get('processor')}, {r['machine'].get('torch_threads')} torch threads, "
             f"torch {r['machine'].get('torch')}; average S={r['average_sizes']['S']} subwords, "
             f"M={r['average_sizes']['M']} span queries.", "",
             "F1 and P/R on single test sentences; F1 samples: on document-context samples (consecutive sentences "
             "of one document up to N words, the paper's test inputs). Throughput, latency and GFLOPs on sentences.", "",
             "| strategy | F1 | F1 samples | P | R | samples/s b8 median [min-max] | x token (IQR) | b1 p50/p95 ms | "
             "samples/s b32 | GFLOPs S44/M324 | GFLOPs formula (real) | GFLOPs measured | spans decoded | peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in r["strategies"].items():
        t = e.get("throughput", {}).get("batch8", {})
        lat = e["latency_ms"]["batch1"]
        sam = e.get("samples")
        sam_f1 = f"{sam['f1']:.2f} ({sam['words']} words)" if sam else "-"
        lines.append(
            f"| {name} | {e['f1']:.2f} | {sam_f1} | "
            f"{e['precision']:.2f} | {e['recall']:.2f} | {t.get('median', '-')} "
            f"[{t.get('min', '-')}-{t.get('max', '-')}] | {e.get('throughput', {}).get('relative_to_token', '-')} ({e.get('throughput', {}).get('relative_to_token_iqr', '-')}) | "
            f"{lat['p50']}/{lat['p95']} | {e['throughput_batch32']} | {e['gflops']['paper_S44_M324']} | "
            f"{e['gflops']['formula_real']} | {e['gflops']['measured']} | {100 * e['kept_fraction']:.1f} % | "
            f"{e['peak_memory_mb']} |")
    types = sorted({t for e in r["strategies"].values() for t in e["per_type"]})
    lines += ["", "Per-type F1:", "", "| strategy | " + " | ".join(types) + " |", "|---" * (len(types) + 1) + "|"]
    for name, e in r["strategies"].items():
        lines.append(f"| {name} | " + " | ".join(f"{e['per_type'].get(t, {}).get('f1-score', 0):.2f}" for t in types) + " |")
    if r.get("sf_sweep"):
        lines += ["", "SF-SpanDec threshold sweep:", "", "| threshold | spans decoded | F1 | samples/s b8 | x token |",
                  "|---|---|---|---|---|"]
        for row in r["sf_sweep"]:
            lines.append(f"| {row['threshold']} | {100 * row['kept_fraction']:.1f} % | {row['f1']:.2f} | "
                         f"{row['samples_per_second']} | {row.get('relative_to_token', '-')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
