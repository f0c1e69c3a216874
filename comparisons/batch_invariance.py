"""Does a text's answer depend on its batch? Every served form of each model predicts the same texts as one list at
several batch sizes and one text at a time; entity differences and the largest score difference are counted, and
the F1 of the one-at-a-time predictions against the gold tags (each form's own F1, to compare with fp32's).

    python comparisons/batch_invariance.py --data /work/shared/data/conllpp/test.txt --threads 1

(every shipped model in every form it serves). The target is zero entity differences for every form over the full
CoNLL++ test set, scores within 1e-3. Results: ``results/NAME.{json,md}``, rewritten after each form.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from spandec import load_model
from spandec.data import data_dir, read_conll, spans_to_tags
from spandec.evaluation import score
from spandec.models.runtime import PRECISIONS
from spandec.app.pool import parse_spec

HERE = Path(__file__).resolve().parent
SCORE_TOLERANCE = 1e-3


def entity_map(doc: list[dict]) -> dict[tuple, float]:
    """(first word, last word, label) -> score of one text's entities."""
    return {(e["word_start_index"], e["word_end_index"], e["label"]): e["score"] for e in doc}


def compare(model, texts: list[list[str]], batch_sizes: list[int], gold=None, **options) -> dict:
    """Each text alone (batch 1, one call per text) against the whole list at each batch size; with ``gold`` (IOB2 tags
    per text) also the F1 of the one-at-a-time predictions."""
    alone_docs = [model.predict_batch([t], batch_size=1, **options)[0] for t in texts]
    alone = [entity_map(d) for d in alone_docs]
    out = {}
    if gold is not None:
        pred = [spans_to_tags(len(t), [(e["word_start_index"], e["word_end_index"], e["label"]) for e in d])
                for t, d in zip(texts, alone_docs)]
        out["f1"] = score(gold, pred)["f1"]
    for bs in batch_sizes:
        listed = [entity_map(d) for d in model.predict_batch(texts, batch_size=bs, **options)]
        differ = [i for i, (a, b) in enumerate(zip(alone, listed)) if set(a) != set(b)]
        diffs = [abs(a[k] - b[k]) for a, b in zip(alone, listed) for k in set(a) & set(b)]
        out[f"b{bs}"] = {"texts_differing": len(differ), "max_score_diff": max(diffs, default=0.0),
                         "first_differing": differ[:5]}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["Token=data/checkpoints/token", "SF-SpanDec=data/checkpoints/sf-spandec",
                                                   "SpanDec=data/checkpoints/spandec", "PL-Marker=data/checkpoints/pl-marker"])
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    p.add_argument("--data", default=None, help="CoNLL file (default: CoNLL++ test)")
    p.add_argument("--sentences", type=int, default=0, help="first N sentences (default: all)")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[3, 8, 32])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--name", default="batch-invariance", help="results/NAME.{json,md} (empty: print only)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    test = read_conll(args.data or data_dir() / "conllpp" / "test.txt")
    sentences = test[: args.sentences] if args.sentences else test
    texts, gold = [s.words for s in sentences], [s.tags for s in sentences]
    rows = {}
    settings = {"texts": len(texts), "batch_sizes": args.batch_sizes, "threads": torch.get_num_threads(),
                "score_tolerance": SCORE_TOLERANCE, "command": "python comparisons/batch_invariance.py " + " ".join(sys.argv[1:])}
    for spec in map(parse_spec, args.models):
        options = {} if spec.threshold is None else {"threshold": spec.threshold}
        for precision in args.precisions:
            try:
                model = load_model(spec.source, device="cpu", precision=precision)
            except (ValueError, ImportError) as exc:
                print(f"{spec.name} {precision}: skipped ({exc})", file=sys.stderr)
                continue
            start = time.perf_counter()
            key = f"{spec.name} ({precision})"
            rows[key] = compare(model, texts, args.batch_sizes, gold, **options)
            rows[key]["seconds"] = round(time.perf_counter() - start, 1)
            print(f"{key}: {rows[key]}", file=sys.stderr, flush=True)
            write(args.name, {"settings": settings, "results": rows})
    print(markdown({"settings": settings, "results": rows}))
    bad = [k for k, r in rows.items() for b in args.batch_sizes
           if r[f"b{b}"]["texts_differing"] or r[f"b{b}"]["max_score_diff"] > SCORE_TOLERANCE]
    return 1 if bad else 0


def write(name: str, result: dict) -> None:
    """results/NAME.json and .md (nothing for an empty name)."""
    if name:
        (HERE / "results" / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        (HERE / "results" / f"{name}.md").write_text(markdown(result))


def markdown(result: dict) -> str:
    """The results as a Markdown table."""
    s = result["settings"]
    head = ["form", "F1 (alone)"] + [f"{h} b{b}" for b in s["batch_sizes"] for h in ("texts differing", "max score diff")]
    lines = [f"Batch invariance: {s['texts']} CoNLL++ test sentences, each predicted alone (batch 1) and in one list at "
             f"batch {', '.join(map(str, s['batch_sizes']))} ({s['threads']} threads); target: no text differing, "
             f"scores within {s['score_tolerance']}.", "", f"`{s['command']}`", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, r in result["results"].items():
        cells = [key, r.get("f1", "")] + [c for b in s["batch_sizes"] for c in (r[f"b{b}"]["texts_differing"],
                                                              f"{r[f'b{b}']['max_score_diff']:.2g}")]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
