"""Summary of several compare.py results (e.g. the five CrossNER domains): per-part F1 and throughput, means.

    python comparisons/aggregate.py crossner comparisons/results/crossner-{politics,science,music,literature,ai}.json

Writes comparisons/results/<name>.json and <name>.md. F1 is each test set's micro F1; "mean" is their
unweighted mean (the protocol stated for CrossNER), "pooled" the micro F1 over all test sets' mentions
together (rebuilt from each part's precision, recall and gold counts).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def pooled_f1(entries: list[dict]) -> float:
    """Micro F1 over several test sets from their precision, recall (percent) and per-type gold counts."""
    tp = pred = gold = 0.0
    for e in entries:
        g = sum(v["support"] for v in e["per_type"].values())
        t = e["recall"] / 100 * g
        tp, gold = tp + t, gold + g
        pred += t / (e["precision"] / 100) if e["precision"] else 0.0
    p, r = (tp / pred if pred else 0.0), (tp / gold if gold else 0.0)
    return round(200 * p * r / (p + r), 2) if p + r else 0.0


def aggregate(parts: dict[str, dict]) -> dict:
    """Per-part rows and means per strategy from compare.py results keyed by part name."""
    names = [n for n in next(iter(parts.values()))["strategies"] if all(n in r["strategies"] for r in parts.values())]
    rows: dict = {}
    for name in names:
        es = {part: r["strategies"][name] for part, r in parts.items()}
        per = {part: {"f1": e["f1"], "samples_per_second_b8": e["throughput"]["batch8"]["median"],
                      "relative_to_token": e["throughput"].get("relative_to_token"),
                      "spans_decoded": e["kept_fraction"], "gflops_measured": e["gflops"]["measured"],
                      "epochs": e.get("training", {}).get("epochs")} for part, e in es.items()}
        rel = [v["relative_to_token"] for v in per.values() if v["relative_to_token"] is not None]
        rows[name] = {
            "parts": per,
            "mean_f1": round(statistics.mean(v["f1"] for v in per.values()), 2),
            "pooled_f1": pooled_f1(list(es.values())),
            "mean_relative_to_token": round(statistics.mean(rel), 3) if rel else None,
            "mean_spans_decoded": round(statistics.mean(v["spans_decoded"] for v in per.values()), 4),
            "init_from": sorted({str(e.get("training", {}).get("init_from")) for e in es.values()}),
        }
    types = sorted({t for r in parts.values() for e in r["strategies"].values() for t in e["per_type"]})
    return {"parts": {p: {"dataset": r["dataset"], "sentences": r["sentences"]} for p, r in parts.items()},
            "types": len(types), "machine": next(iter(parts.values()))["machine"], "strategies": rows}


def markdown(name: str, a: dict) -> str:
    """The summary table."""
    parts = list(a["parts"])
    lines = [f"## {name}: {len(parts)} test sets, {a['types']} distinct types", "",
             "Micro F1 per test set; mean = unweighted mean; pooled = micro F1 over all mentions. "
             "Throughput: samples/s at batch 8 (median of the rounds) and x token classification.", "",
             "| strategy | " + " | ".join(parts) + " | mean F1 | pooled F1 | mean x token | spans decoded |",
             "|---" * (len(parts) + 5) + "|"]
    for s, r in a["strategies"].items():
        cells = [f"{r['parts'][p]['f1']:.2f} ({r['parts'][p]['samples_per_second_b8']}/s)" for p in parts]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {r['mean_f1']:.2f} | {r['pooled_f1']:.2f} | "
                     f"{r['mean_relative_to_token'] if r['mean_relative_to_token'] is not None else '-'} | "
                     f"{100 * r['mean_spans_decoded']:.1f} % |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    name, files = argv[0], [Path(f) for f in argv[1:]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"error: no results file {', '.join(missing)}", file=sys.stderr)
        return 2
    parts = {f.stem.removeprefix(f"{name}-"): json.loads(f.read_text()) for f in files}
    result = aggregate(parts)
    out = files[0].parent
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(name, result))
    print(markdown(name, result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
