"""Length benchmark: does a model hold on real-length text? F1 of each model on the same test sentences fed
one by one, as the paper's document-context samples, k consecutive sentences joined, and whole documents;
plus entity counts on ~10,000-character texts made of consecutive test documents against sentence-by-sentence.

Usage:
    python comparisons/length.py --model token=data/checkpoints/token --model sf-spandec=data/checkpoints/sf-spandec \\
        [--dataset conllpp] [--max-docs 40] [--ks 1,4,8,16] [--name length-conllpp]
Writes comparisons/results/<name>.{json,md,html,png}. Inputs are pre-split words (the gold tokenisation),
except the 10,000-character check, which feeds raw text as a user would paste it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import plotly.graph_objects as go

from spandec import load_model
from spandec.benchmark import machine_info
from spandec.data import data_dir, read_dataset_dir
from spandec.evaluation import evaluate
from spandec.samples import PAPER_SAMPLE_WORDS, by_document, document_samples, join_consecutive, whole_documents

from plot import save_figure  # comparisons/plot.py

RESULTS = Path(__file__).resolve().parent / "results"


def settings(test, ks, sample_words: int) -> dict[str, list]:
    """The same sentences grouped each way: name -> list of inputs (joined Sentences)."""
    out = {"sentence": test}
    out[f"paper samples ({sample_words} words)"] = document_samples(test, sample_words)
    for k in ks:
        if k > 1:
            out[f"{k} sentences joined"] = join_consecutive(test, k)
    out["whole document"] = whole_documents(test)
    return out


def char_texts(test, chars: int) -> list[tuple[str, list[str]]]:
    """Texts of about ``chars`` characters made of consecutive documents, with their sentences as raw texts."""
    texts, current, sentences = [], [], []
    for doc in by_document(test):
        for s in doc:
            line = " ".join(s.words)
            if current and sum(len(x) + 1 for x in current) + len(line) > chars:
                texts.append((" ".join(current), sentences))
                current, sentences = [], []
            current.append(line)
            sentences.append(line)
    if current:
        texts.append((" ".join(current), sentences))
    return [t for t in texts if len(t[0]) >= 0.8 * chars]


def count_check(model, texts: list[tuple[str, list[str]]], batch_size: int) -> dict:
    """Entities found in each long text against the sum found sentence by sentence (raw text both ways)."""
    whole = sum(len(e) for e in model.predict_batch([t for t, _ in texts], batch_size=batch_size))
    split = sum(len(e) for _, sents in texts for e in model.predict_batch(sents, batch_size=batch_size))
    return {"texts": len(texts), "chars": sum(len(t) for t, _ in texts), "entities_whole": whole,
            "entities_sentence_by_sentence": split, "ratio": round(whole / split, 4) if split else None}


def markdown(results: dict) -> str:
    """A table per model and setting, and the 10,000-character counts."""
    names = list(results["models"])
    rows = list(next(iter(results["models"].values()))["settings"])
    lines = [f"# Length benchmark: {results['dataset']} test, {results['sentences']} sentences in "
             f"{results['documents']} documents", "",
             *[f"`{c}`" for c in results.get("commands", [results["command"]])], "",
             "F1 (exact span, seqeval IOB2 strict) with the same sentences grouped each way:", "",
             "| grouping | inputs | mean words | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    first = results["models"][names[0]]["settings"]
    for r in rows:
        cells = [f"{results['models'][n]['settings'][r]['f1']:.2f}" for n in names]
        lines.append(f"| {r} | {first[r]['inputs']} | {first[r]['mean_words']} | " + " | ".join(cells) + " |")
    lines += ["", f"Entities found in texts of ~{results['chars']:,} characters (raw text, consecutive documents) "
              "against sentence by sentence:", "", "| model | texts | whole | sentence by sentence | ratio |",
              "|---|---|---|---|---|"]
    for n in names:
        c = results["models"][n]["chars_check"]
        lines.append(f"| {n} | {c['texts']} | {c['entities_whole']} | {c['entities_sentence_by_sentence']} | {c['ratio']} |")
    return "\n".join(lines) + "\n"


def figure(results: dict) -> go.Figure:
    """F1 per grouping, one line per model."""
    fig = go.Figure()
    for name, m in results["models"].items():
        keys = list(m["settings"])
        fig.add_trace(go.Scatter(x=keys, y=[m["settings"][k]["f1"] for k in keys], mode="lines+markers", name=name))
    fig.update_layout(title=f"{results['dataset']} test F1 by input length", yaxis_title="F1", xaxis_title="input",
                      template="plotly_white", width=900, height=520)
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="NAME=PATH of a saved model (repeatable)")
    p.add_argument("--dataset", default="conllpp", help="folder under the data dir (default conllpp)")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default $SPANDEC_DATA_DIR or ../shared/data)")
    p.add_argument("--max-docs", type=int, default=None, help="use the first N test documents (default all)")
    p.add_argument("--ks", default="1,4,8,16", help="sentences joined (default 1,4,8,16)")
    p.add_argument("--sample-words", type=int, default=PAPER_SAMPLE_WORDS, help="paper-style sample budget in words")
    p.add_argument("--chars", type=int, default=10_000, help="length of the raw-text count check (default 10000)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--name", default=None, help="results file name (default length-<dataset>)")
    p.add_argument("--out", default=str(RESULTS), help="results folder (default comparisons/results)")
    p.add_argument("--append", action="store_true",
                   help="add these models to the results file of this name (same dataset, documents and settings)")
    args = p.parse_args(argv)
    root = Path(args.data_dir) if args.data_dir else data_dir()
    test = read_dataset_dir(root / args.dataset)["test"]
    if args.max_docs:
        test = [s for doc in by_document(test)[: args.max_docs] for s in doc]
    groups = settings(test, [int(k) for k in args.ks.split(",") if k.strip()], args.sample_words)
    texts = char_texts(test, args.chars)
    results = {"dataset": args.dataset, "sentences": len(test), "documents": len(by_document(test)),
               "chars": args.chars, "command": "python comparisons/length.py " + " ".join(argv or sys.argv[1:]),
               "machine": machine_info(), "models": {}}
    stem = Path(args.out) / (args.name or f"length-{args.dataset.replace('/', '-')}")
    if args.append and stem.with_suffix(".json").is_file():
        old = json.loads(stem.with_suffix(".json").read_text())
        same = ("dataset", "sentences", "documents", "chars")
        if any(old.get(k) != results[k] for k in same) or list(next(iter(old["models"].values()))["settings"]) != list(groups):
            p.error(f"--append: {stem.with_suffix('.json')} was measured on other data or groupings; use another --name")
        results["models"] = dict(old["models"])
        results["commands"] = old.get("commands", [old["command"]]) + [results["command"]]
    for spec in args.model:
        name, _, path = spec.partition("=")
        model = load_model(path, device="cpu")
        entry = {"path": path, "window_subwords": model.config.window_subwords, "settings": {}}
        for key, data in groups.items():
            start = time.perf_counter()
            ev = evaluate(model, data, batch_size=args.batch_size)
            entry["settings"][key] = {"f1": ev["f1"], "precision": ev["precision"], "recall": ev["recall"],
                                      "inputs": len(data), "mean_words": round(sum(len(s.words) for s in data) / len(data), 1),
                                      "seconds": round(time.perf_counter() - start, 1)}
            print(f"[{name}] {key}: F1 {ev['f1']:.2f}", file=sys.stderr, flush=True)
        entry["chars_check"] = count_check(model, texts, args.batch_size)
        print(f"[{name}] {args.chars} chars: {entry['chars_check']}", file=sys.stderr, flush=True)
        results["models"][name] = entry
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(results))
    save_figure(figure(results), stem)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
