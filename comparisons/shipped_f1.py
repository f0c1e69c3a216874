"""Test F1 of saved models, sentence by sentence and on 60-word document-context samples, as `spandec evaluate` gives it.

    python comparisons/shipped_f1.py --model sf-spandec=data/checkpoints/sf-spandec --model token=data/checkpoints/token \
        --name conllpp-f1 [--update comparisons/results/conllpp.json]

Writes comparisons/results/<name>.json and .md. ``--update`` copies each model's F1/P/R, per-type scores, sample F1
and spans decoded into a compare.py results file (the one the app's trade-off view and the model cards read), marking
the entry with ``f1_from`` so that its throughput and GFLOPs, measured on the earlier weights, are not mistaken for
the new ones'.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spandec import load_model
from spandec.data import data_dir, read_dataset_dir
from spandec.evaluation import evaluate
from spandec.samples import PAPER_SAMPLE_WORDS, document_samples

RESULTS = Path(__file__).parent / "results"


def scores(model, test, sample_words: int) -> dict:
    """Sentence-level evaluate() result (per type) plus the samples' F1/P/R and the share of spans decoded."""
    ev = evaluate(model, test, batch_size=8)
    sev = evaluate(model, document_samples(test, sample_words), batch_size=8)
    return {"f1": ev["f1"], "precision": ev["precision"], "recall": ev["recall"], "per_type": ev["per_type"],
            "kept_fraction": round(ev["decoded"] / ev["candidates"], 4) if ev.get("candidates") else 1.0,
            "samples": {"words": sample_words, "inputs": sev["sentences"], "f1": sev["f1"],
                        "precision": sev["precision"], "recall": sev["recall"],
                        "kept_fraction": round(sev["decoded"] / sev["candidates"], 4) if sev.get("candidates") else 1.0},
            "threshold": getattr(model.config, "threshold", None) if model.has_span_filter else None}


def markdown(results: dict) -> str:
    """One row per model: F1 on sentences and samples, P/R, spans decoded."""
    lines = [f"## {results['dataset']} test F1 ({results['sentences']} sentences)", "",
             f"Command: `{results['command']}`", "",
             "| model | checkpoint | F1 sentences | P | R | F1 samples (60 words) | spans decoded (sentences / samples) |",
             "|---|---|---|---|---|---|---|"]
    for name, e in results["models"].items():
        s = e["samples"]
        thr = f" at threshold {e['threshold']}" if e.get("threshold") is not None else ""
        lines.append(f"| {name} | `{e['checkpoint']}` | {e['f1']:.2f} | {e['precision']:.2f} | {e['recall']:.2f} | "
                     f"{s['f1']:.2f} | {100 * e['kept_fraction']:.1f} % / {100 * s['kept_fraction']:.1f} %{thr} |")
    return "\n".join(lines) + "\n"


def update(path: Path, results: dict, name: str) -> None:
    """Copy the F1 figures of ``results`` into the compare.py results file ``path`` (entries of the same name)."""
    stored = json.loads(path.read_text())
    for model, e in results["models"].items():
        if model in stored["strategies"]:
            entry = stored["strategies"][model]
            entry.update({k: e[k] for k in ("f1", "precision", "recall", "per_type", "kept_fraction")})
            entry["samples"] = {k: e["samples"][k] for k in ("words", "inputs", "f1", "precision", "recall")}
            entry["f1_from"] = f"comparisons/results/{name}.json (throughput, latency, GFLOPs: the earlier weights)"
    path.write_text(json.dumps(stored, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="NAME=PATH (repeatable)")
    p.add_argument("--dataset", default="conllpp")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default $SPANDEC_DATA_DIR or ../shared/data)")
    p.add_argument("--sample-words", type=int, default=PAPER_SAMPLE_WORDS)
    p.add_argument("--name", required=True, help="results file name under comparisons/results")
    p.add_argument("--update", default=None, help="a compare.py results JSON whose entries take these F1 figures")
    args = p.parse_args()
    root = Path(args.data_dir) if args.data_dir else data_dir()
    test = read_dataset_dir(root / args.dataset)["test"]
    results = {"dataset": args.dataset, "sentences": len(test), "command": "python " + " ".join(sys.argv), "models": {}}
    for spec in args.model:
        name, _, path = spec.partition("=")
        print(f"[{name}] evaluating", file=sys.stderr, flush=True)
        results["models"][name] = {"checkpoint": path, **scores(load_model(path, device="cpu"), test, args.sample_words)}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(results))
    print(markdown(results))
    if args.update:
        update(Path(args.update), results, args.name)


if __name__ == "__main__":
    main()
