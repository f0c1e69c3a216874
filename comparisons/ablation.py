"""Paper Table 8 summary: test F1 and GFLOPs of each trained SpanDec depth in RUNS/ablation/<enc>+<dec>/.

Usage: python comparisons/ablation.py RUNS/ablation --test ../shared/data/conllpp/test.txt
Writes comparisons/results/ablation.json and ablation.md. For SF-SpanDec runs the test F1 is given
at threshold 0 (every span decoded: SpanDec) and at the model's own threshold.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from spandec import load_model
from spandec.benchmark import average_sizes, machine_info
from spandec.data import read_conll
from spandec.evaluation import evaluate
from spandec.flops import model_gflops


RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = re.compile(r"^(\d+)\+(\d+)$")


def summarise_run(run: Path, test, batch_size: int) -> dict:
    """Test F1 (SpanDec and, for SF models, SF-SpanDec), GFLOPs and training record of one depth."""
    model = load_model(run / "best", device="cpu")
    sizes = average_sizes(model, test)
    sf_model = model.has_span_filter
    scores = lambda result: {k: result[k] for k in ("f1", "precision", "recall", "samples_per_second")}
    row = {
        "encoder_layers": model.config.encoder_layers,
        "decoder_layers": model.config.decoder_layers,
        "gflops_S44_M324": round(model_gflops(model, 44, 324), 3),  # every span decoded: SpanDec's
        "gflops_real": round(model_gflops(model, sizes["S"], sizes["M"]), 3),
        "spandec": scores(evaluate(model, test, batch_size=batch_size, **({"threshold": 0.0} if sf_model else {}))),
    }
    if sf_model:
        sf = evaluate(model, test, batch_size=batch_size)
        row["sf_spandec"] = scores(sf)
        row["sf_spandec"]["threshold"] = model.config.threshold
        row["sf_spandec"]["spans_decoded_pct"] = round(100 * sf["decoded"] / max(sf["candidates"], 1), 2)
    record = json.loads((run / "training.json").read_text()) if (run / "training.json").is_file() else {}
    history = record.get("history", [])
    row["training"] = {
        "strategy": model.strategy,
        "init_from": record.get("init_from"),
        "epochs": record.get("args", {}).get("epochs"),
        "batch_size": record.get("args", {}).get("batch_size"),
        "train_sentences": record.get("train_sentences"),
        "steps": record.get("steps"),
        "dev_f1": [h["dev"]["f1"] for h in history if h.get("dev")],
        "best_dev_f1": record.get("best_f1"),
        "seconds": history[-1].get("seconds") if history else None,
    }
    return row


def markdown(rows: dict) -> str:
    """Table 8-shaped Markdown: depth, GFLOPs, test F1."""
    sf = any("sf_spandec" in r for r in rows.values())
    head = "| encoder + decoder layers | GFLOPs S44/M324 | GFLOPs (CoNLL++ S, M) | dev F1 | SpanDec test F1 |"
    head += " SF-SpanDec test F1 | spans decoded |" if sf else ""
    head += " training s |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows.items():
        t = r["training"]
        line = f"| {name} | {r['gflops_S44_M324']} | {r['gflops_real']} | {t['best_dev_f1']} | {r['spandec']['f1']} |"
        if sf:
            s = r.get("sf_spandec")
            line += f" {s['f1']} | {s['spans_decoded_pct']} % |" if s else " - | - |"
        line += f" {t['seconds']} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", help="folder holding <enc>+<dec>/ training runs")
    p.add_argument("--test", required=True, help="CoNLL++ test file")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--name", default="ablation", help="results file stem (default ablation)")
    p.add_argument("--max-sentences", type=int, default=None, help="only the first N test sentences (smoke runs)")
    args = p.parse_args()
    test = read_conll(args.test)[: args.max_sentences]
    depth = {d: tuple(map(int, m.groups())) for d in Path(args.runs).iterdir()
             if (m := CONFIG.match(d.name)) and (d / "best").is_dir()}
    runs = sorted(depth, key=lambda d: (-depth[d][0], depth[d][1]))  # 5+1, 4+1, 4+2, 3+1, 3+3
    if not runs:
        raise SystemExit(f"{args.runs}: no <enc>+<dec>/best runs")
    rows = {d.name: summarise_run(d, test, args.batch_size) for d in runs}
    out = {"dataset": "conllpp", "test_sentences": len(test), "machine": machine_info(), "configs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
