"""Serving cost of every strategy x precision on CPU: F1, samples/s at several batch sizes,
batch-1 latency, peak memory and size on disk, with ratios against fp32 token classification.

    PYTHONPATH=. python comparisons/serving.py --threads 1 2 --clock cpu --sentences 300 --f1-sentences 1000 \\
        --models Token=data/checkpoints/token SF-SpanDec=data/checkpoints/sf-spandec SpanDec=data/checkpoints/spandec

F1 is on the whole CoNLL++ test set (``--f1-sentences`` for a subset); throughput at each
batch size is measured on the first ``--sentences`` test sentences, every form in one
interleaved run (forms alternate within each round), so the ratios share the machine's state; each
``--threads`` count is its own run (forms loaded anew: ONNX Runtime sessions take the thread count at load).
Writes comparisons/results/serving.{json,md} and the latency-vs-F1 figure serving.html.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from spandec import load_model
from spandec.app.figures import tradeoff_plot
from spandec.app.pool import DEFAULT_SPECS, parse_specs
from spandec.benchmark import latency, machine_info, peak_memory_mb, throughput
from spandec.data import data_dir, read_conll
from spandec.evaluation import evaluate
from spandec.models.auto import saved_class
from spandec.models.base import read_saved_config
from spandec.models.runtime import PRECISIONS, native_bf16
from spandec.spans import Document

REFERENCE = ("Token", "fp32")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
F1_TOLERANCE = 0.3


def has_onnx_form(source: str) -> bool:
    """Whether the saved model at ``source`` has ONNX forms (its class's ``onnx_parts``: not PL-Marker); unreadable
    folders and unknown types are kept, to be reported."""
    try:
        klass = saved_class(read_saved_config(source)[1])
    except (OSError, ValueError):
        return True
    return klass is None or bool(klass.onnx_parts)


def folder_mib(path: Path) -> float:
    """Size of a model folder's files on disk (MiB)."""
    return round(sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 2**20, 1)


def load_forms(specs, precisions) -> dict[tuple[str, str], tuple]:
    """Every (name, precision) -> (model, options, size on disk); forms a strategy cannot run are reported and skipped."""
    forms = {}
    for spec in specs:
        for precision in precisions:
            try:
                model = load_model(spec.source, device="cpu", precision=precision)
            except ValueError as exc:
                print(f"{spec.name} {precision}: skipped ({exc})", file=sys.stderr)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp)
                size = folder_mib(Path(tmp))
            options = {} if spec.threshold is None else {"threshold": spec.threshold}
            forms[(spec.name, precision)] = (model, options, size)
    return forms


def run(args) -> dict:
    """Measure every form at each thread count (F1 once, at the first); returns the results dict written to serving.json.

    Each row keeps its speed per thread count under ``threads``; its flat ``samples_per_s_b*`` / ratio / latency keys
    (what the app's trade-off view reads) are those of the last thread count, the app's (a Space's CPU has 2 cores)."""
    test = read_conll(args.data or data_dir() / "conllpp" / "test.txt")
    f1_set = test[: args.f1_sentences] if args.f1_sentences else test
    speed_set = test[: args.sentences]
    rows: dict[str, dict] = {}
    for t, threads in enumerate(args.threads):
        torch.set_num_threads(threads)  # before loading: ONNX Runtime sessions take torch's thread count
        forms = load_forms(parse_specs(args.models), args.precisions)
        named = {f"{n} ({p})": (m, o) for (n, p), (m, o, _) in forms.items()}
        if t == 0:
            rows = {f"{n} ({p})": {"model": n, "precision": p, "strategy": m.strategy, "size_mib": size, "threads": {}}
                    for (n, p), (m, _, size) in forms.items()}
            f1_scores(named, rows, f1_set)
        for key, speed in speeds(named, speed_set, args).items():
            rows[key]["threads"][str(threads)] = speed
        del forms, named
    for row in rows.values():
        base = rows.get(f"{row['model']} (fp32)")
        row["f1_delta_vs_fp32"] = round(row["f1"] - base["f1"], 2) if base else None
    for threads in map(str, args.threads):
        ratios(rows, threads, args.batch_sizes)
    for row in rows.values():
        row.update(row["threads"].get(str(args.threads[-1]), {}))
    return {"machine": machine_info() | {"native_bf16": native_bf16()},
            "settings": {"f1_sentences": len(f1_set), "speed_sentences": len(speed_set), "rounds": args.rounds,
                         "batch_sizes": args.batch_sizes, "threads": args.threads,
                         "batch1_sentences": min(args.batch1_sentences, len(speed_set)), "latency_calls": args.latency_calls,
                         "reference": " ".join(REFERENCE), "clock": args.clock, "f1_tolerance": F1_TOLERANCE,
                         "command": "python comparisons/serving.py " + " ".join(sys.argv[1:])},
            "results": rows}


def f1_scores(named: dict, rows: dict, f1_set) -> None:
    """F1, precision and recall of every form on ``f1_set`` (batch 32), into ``rows``."""
    for key, (model, options) in named.items():
        start = time.perf_counter()
        scores = evaluate(model, f1_set, batch_size=32, **options)
        rows[key].update(f1=scores["f1"], entity_precision=scores["precision"], entity_recall=scores["recall"])
        print(f"{key}: F1 {rows[key]['f1']} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)


def speeds(named: dict, speed_set, args) -> dict[str, dict]:
    """Every form's samples/s per batch size (median, min and max of the interleaved rounds), batch-1 latency and peak
    memory at batch 32, at the current thread count."""
    out: dict[str, dict] = {key: {} for key in named}
    clock = CLOCKS[args.clock]
    for bs in args.batch_sizes:
        speed = throughput(named, speed_set[: args.batch1_sentences] if bs == 1 else speed_set, batch_size=bs,
                           rounds=args.rounds, clock=clock)
        for key, r in speed.items():
            out[key].update({f"samples_per_s_b{bs}": r["median"], f"samples_per_s_b{bs}_min": r["min"],
                             f"samples_per_s_b{bs}_max": r["max"]})
        print(f"{torch.get_num_threads()} threads, batch {bs}: " + ", ".join(f"{k} {v['median']}" for k, v in speed.items()),
              file=sys.stderr, flush=True)
    docs = [Document.from_input(s.words) for s in speed_set]
    for key, (model, options) in named.items():
        lat = latency(model, speed_set, batch_size=1, limit=args.latency_calls, clock=clock, **options)
        out[key].update(p50_ms=lat["p50"], p95_ms=lat["p95"], mean_ms_b1=lat["mean"])
        out[key]["peak_mib_b32"] = peak_memory_mb(lambda: model.predict_candidates(docs[:256], 32, **options),
                                                  torch.device("cpu"))
    return out


def ratios(rows: dict, threads: str, batch_sizes) -> None:
    """Each form's speed at ``threads`` against fp32 token classification and against token classification at its
    own precision (the same thread count, the same interleaved run)."""
    ref = rows.get(f"{REFERENCE[0]} ({REFERENCE[1]})")
    for row in rows.values():
        mine = row["threads"].get(threads)
        same = rows.get(f"{REFERENCE[0]} ({row['precision']})")
        for bs in batch_sizes:
            col = f"samples_per_s_b{bs}"
            if mine is None or not mine.get(col):
                continue
            if ref and ref["threads"].get(threads, {}).get(col):
                mine[f"x_token_fp32_b{bs}"] = round(mine[col] / ref["threads"][threads][col], 2)
            if same and same["threads"].get(threads, {}).get(col):
                mine[f"x_token_same_precision_b{bs}"] = round(mine[col] / same["threads"][threads][col], 2)


def markdown(result: dict) -> str:
    """The results as Markdown: F1 per form, then one speed table per thread count, with the settings."""
    s, bss = result["settings"], result["settings"]["batch_sizes"]
    lines = [f"Serving on CPU ({result['machine']['processor']}; native bf16: {result['machine']['native_bf16']}). "
             f"F1 on {s['f1_sentences']} CoNLL++ test sentences; speed on the first {s['speed_sentences']} (batch 1: "
             f"{s['batch1_sentences']}), {s['rounds']} interleaved rounds, median [min-max] samples/s ({s['clock']} clock); "
             f"latency over {s['latency_calls']} single-sentence calls.", "", f"`{s['command']}`", "",
             "| form | F1 | ΔF1 vs fp32 | precision | recall | MiB on disk |", "|---|---|---|---|---|---|"]
    rows = result["results"]
    for key, r in rows.items():
        cells = [key, r["f1"], r["f1_delta_vs_fp32"], r.get("entity_precision"), r.get("entity_recall"), r["size_mib"]]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    for threads in s.get("threads") or [result["machine"].get("torch_threads")]:
        head = ([f"form, {threads} thread{'s' if threads != 1 else ''}"] + [f"samples/s b{b}" for b in bss]
                + [f"x token fp32 b{b}" for b in bss] + [f"x token same precision b{b}" for b in bss]
                + ["p50 ms b1", "p95 ms b1", "peak MiB b32"])
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for key, r in rows.items():
            t = r.get("threads", {}).get(str(threads), r)
            spread = [f"{t.get(f'samples_per_s_b{b}')} [{t.get(f'samples_per_s_b{b}_min')}-{t.get(f'samples_per_s_b{b}_max')}]"
                      if t.get(f"samples_per_s_b{b}") is not None else None for b in bss]
            cells = ([key] + spread + [t.get(f"x_token_fp32_b{b}") for b in bss]
                     + [t.get(f"x_token_same_precision_b{b}") for b in bss] + [t.get("p50_ms"), t.get("p95_ms"),
                                                                               t.get("peak_mib_b32")])
            lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def figure(result: dict):
    """Latency (batch-1 p50) against F1, one point per strategy and precision."""
    points = [{"name": key, "latency_ms": r["p50_ms"], "f1": r["f1"],
               "note": f"{r.get('samples_per_s_b8')} samples/s at batch 8, {r['size_mib']} MiB"}
              for key, r in result["results"].items()]
    return tradeoff_plot(points, x_title="batch-1 latency p50 (ms per sentence)",
                         title="CPU serving: latency vs F1 per strategy and precision")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[str(s) for s in DEFAULT_SPECS if has_onnx_form(s.source)],
                   help="NAME=PATH[@THRESHOLD] (the one named Token is the reference; default: the app's default "
                        "models but PL-Marker, which has no ONNX form)")
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    p.add_argument("--data", default=None, help="CoNLL file (default: CoNLL++ test in $SPANDEC_DATA_DIR)")
    p.add_argument("--f1-sentences", type=int, default=None, help="score F1 on the first N sentences (default all)")
    p.add_argument("--sentences", type=int, default=800, help="sentences timed per round (default 800)")
    p.add_argument("--batch1-sentences", type=int, default=200, help="sentences timed per round at batch 1 (default 200)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--latency-calls", type=int, default=300)
    p.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                   help="wall time, or the process's CPU time (with --threads 1 on a machine other jobs share)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="torch and ONNX Runtime thread counts, each measured in its own interleaved run (default 1 2)")
    p.add_argument("--out", default="comparisons/results/serving", help="output path without suffix")
    args = p.parse_args(argv)
    result = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    figure(result).write_html(str(out.with_suffix(".html")), include_plotlyjs="cdn")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
