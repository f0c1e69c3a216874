"""Learning from corrections, measured: a project's accepted annotations fine-tune its model through the app's
own path (spandec.app.learn: a background `spandec train --init-from`, then before/after on a held-out share).

The corrections simulate a team adapting the shipped CoNLL++ model to its own conventions on CrossNER politics
texts: politicians and persons are PER, parties and organisations ORG, countries and locations LOC, elections,
events and the rest MISC (the CrossNER gold, relabelled, stands in for the annotators' accepted work).

Usage: python comparisons/learn_from_corrections.py [--model data/checkpoints/token] [--texts 200] [--epochs 3]
Writes comparisons/results/learn-from-corrections.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from spandec.app import learn
from spandec.app.context import AppContext
from spandec.app.pool import ModelPool, ModelSpec
from spandec.data import data_dir, read_conll
from spandec.store import open_store
from spandec.store import projects as P

RESULTS = Path(__file__).resolve().parent / "results"
TO_CONLL = {"person": "PER", "politician": "PER", "organisation": "ORG", "politicalparty": "ORG",
            "location": "LOC", "country": "LOC", "election": "MISC", "event": "MISC", "misc": "MISC"}


def docs(sentences) -> list:
    """Each sentence as a text (words joined by spaces) with its relabelled gold entities as character spans."""
    out = []
    for k, s in enumerate(sentences):
        starts, pos = [], 0
        for w in s.words:
            starts.append(pos)
            pos += len(w) + 1
        ents = [[starts[a], starts[b - 1] + len(s.words[b - 1]), TO_CONLL[t]] for a, b, t in s.entities if t in TO_CONLL]
        out.append(P.Doc(" ".join(s.words), source_id=str(k), entities=ents))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="data/checkpoints/token")
    p.add_argument("--texts", type=int, default=200, help="accepted texts (CrossNER politics train, default 200)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--held-out", type=float, default=0.2)
    args = p.parse_args(argv)
    sentences = read_conll(data_dir() / "crossner" / "politics" / "train.txt")[: args.texts]
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "annotations.db")
        pool = ModelPool.load([ModelSpec("Shipped", args.model)], log=lambda m: None)
        ctx = AppContext(pool, workdir=Path(tmp))
        project = P.create_project(store, "politics", ["PER", "ORG", "LOC", "MISC"], "Shipped", None)
        P.add_texts(store, project, docs(sentences), accept_as="annotator")
        start = time.perf_counter()
        job = learn.start(ctx, store, "politics", epochs=args.epochs, held_out=args.held_out)
        if job.proc.wait() != 0:
            print(job.log.read_text()[-2000:], file=sys.stderr)
            return 1
        note, rows, _ = learn.poll(ctx, store, "politics")
        seconds = time.perf_counter() - start
    result = {"command": "python comparisons/learn_from_corrections.py " + " ".join(argv or sys.argv[1:]),
              "model": args.model, "texts": len(sentences), "held_out": rows[0][4], "epochs": args.epochs,
              "seconds": round(seconds, 1), "before": dict(zip(["f1", "precision", "recall"], rows[0][1:4])),
              "after": dict(zip(["f1", "precision", "recall"], rows[1][1:4])), "note": note}
    (RESULTS / "learn-from-corrections.json").write_text(json.dumps(result, indent=2) + "\n")
    md = (f"# Learning from corrections\n\n`{result['command']}`\n\n{len(sentences)} accepted CrossNER politics texts "
          f"(relabelled to PER/ORG/LOC/MISC), {rows[0][4]} held out; {args.epochs} epochs of `spandec train --init-from "
          f"{args.model}` in the background, {seconds:.0f} s in all (2-core CPU).\n\n| model | held-out F1 | P | R |\n"
          f"|---|---|---|---|\n| before | {rows[0][1]} | {rows[0][2]} | {rows[0][3]} |\n"
          f"| after | {rows[1][1]} | {rows[1][2]} | {rows[1][3]} |\n")
    (RESULTS / "learn-from-corrections.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
