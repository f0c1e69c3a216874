"""What batch invariance costs: each form timed with its batch-invariant batching against the batching it replaced
(windows sorted by length and padded to their batch's longest; bf16's ``nn.Linear`` layers in one matrix product),
interleaved round by round, process CPU time.

    python comparisons/invariance_cost.py --data /work/shared/data/conllpp/test.txt --threads 1 --sentences 600

Two workloads on the first ``--sentences`` CoNLL++ test sentences, batch size 8: ``corpus`` (one call for all of them,
as ``evaluate`` does) and ``requests`` (one call per 8 consecutive sentences, as a server gets them: their lengths
mostly differ, so the invariant batching runs most windows one at a time). Results: ``results/NAME.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

import spandec.models.base as base
from spandec import load_model
from spandec.app.pool import parse_spec
from spandec.data import data_dir, read_conll
from spandec.models.runtime import PRECISIONS, RowBlockLinear
from spandec.spans import Document

HERE = Path(__file__).resolve().parent
BATCH = 8


def padded_batches(windows, batch_size: int) -> list[list[int]]:
    """The replaced batching: windows sorted by length, ``batch_size`` at a time, padded to each batch's longest."""
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].input_ids))
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]


VARIANTS = ("padded", "unblocked", "invariant")  # unblocked: same-length batches, bf16 linear layers in one product


@contextmanager
def variant(model, name: str):
    """Run ``model`` as ``name`` of :data:`VARIANTS` ("padded": as before batch invariance); restored on exit."""
    blocked = [m for m in model.modules() if type(m) is RowBlockLinear] if name != "invariant" else []
    invariant = base.same_length_batches
    if name == "padded":
        base.same_length_batches = padded_batches
    for m in blocked:
        m.__class__ = nn.Linear
    try:
        yield
    finally:
        base.same_length_batches = invariant
        for m in blocked:
            m.__class__ = RowBlockLinear


def run(model, calls: list[list[Document]], options: dict) -> float:
    """CPU seconds to score every call's documents."""
    start = time.process_time()
    for docs in calls:
        model.predict_candidates(docs, batch_size=BATCH, **options)
    return time.process_time() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["Token=data/checkpoints/token", "SF-SpanDec=data/checkpoints/sf-spandec",
                                                   "SpanDec=data/checkpoints/spandec", "PL-Marker=data/checkpoints/pl-marker"])
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    p.add_argument("--data", default=None, help="CoNLL file (default: CoNLL++ test)")
    p.add_argument("--sentences", type=int, default=600)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--name", default="invariance-cost", help="results/NAME.{json,md} (empty: print only)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    test = read_conll(args.data or data_dir() / "conllpp" / "test.txt")[: args.sentences]
    docs = [Document.from_input(s.words) for s in test]
    workloads = {"corpus": [docs], "requests": [docs[i : i + BATCH] for i in range(0, len(docs), BATCH)]}
    forms = {}
    for spec in map(parse_spec, args.models):
        for precision in args.precisions:
            try:
                forms[f"{spec.name} ({precision})"] = (load_model(spec.source, device="cpu", precision=precision),
                                                       {} if spec.threshold is None else {"threshold": spec.threshold})
            except (ValueError, ImportError) as exc:
                print(f"{spec.name} {precision}: skipped ({exc})", file=sys.stderr)
    variants = {f: [v for v in VARIANTS if v != "unblocked" or any(type(m) is RowBlockLinear for m in model.modules())]
                for f, (model, _) in forms.items()}
    times = {(f, w, v): [] for f in forms for w in workloads for v in variants[f]}
    for model, options in forms.values():  # warm-up
        run(model, workloads["requests"][:2], options)
    for r in range(args.rounds):
        for name, (model, options) in forms.items():
            for work, calls in workloads.items():
                for v in variants[name]:
                    with variant(model, v):
                        times[name, work, v].append(run(model, calls, options))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    rows = {}
    for name in forms:
        for work in workloads:
            median = {v: statistics.median(times[name, work, v]) for v in variants[name]}
            rows[f"{name} {work}"] = {f"{v}_s": round(t, 3) for v, t in median.items()} | {
                "cost": round(median["invariant"] / median["padded"], 3),
                "rounds": {v: [round(t, 3) for t in times[name, work, v]] for v in variants[name]}}
    result = {"settings": {"sentences": len(docs), "batch_size": BATCH, "rounds": args.rounds, "threads": args.threads,
                           "clock": "process_time",
                           "command": "python comparisons/invariance_cost.py " + " ".join(sys.argv[1:])}, "results": rows}
    md = markdown(result)
    print(md)
    if args.name:
        (HERE / "results" / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
        (HERE / "results" / f"{args.name}.md").write_text(md)
    return 0


def markdown(result: dict) -> str:
    """The results as a Markdown table."""
    s = result["settings"]
    lines = [f"Cost of batch invariance: {s['sentences']} CoNLL++ test sentences, batch {s['batch_size']}, {s['threads']} "
             f"thread(s), median of {s['rounds']} interleaved rounds, process CPU seconds. `corpus`: one call for all "
             f"sentences; `requests`: one call per {s['batch_size']} consecutive sentences. `padded`: windows sorted by "
             "length and padded to their batch's longest, bf16 linear layers in one product (the replaced batching); "
             "`invariant`: batches of one window length, bf16 linear layers in blocks of at most 32 rows; `unblocked` "
             "(bf16 only): batches of one window length, linear layers in one product.", "",
             f"`{s['command']}`", "", "| form | workload | padded s | unblocked s | invariant s | invariant / padded |",
             "|---|---|---|---|---|---|"]
    for key, r in result["results"].items():
        form, _, work = key.rpartition(" ")
        lines.append(f"| {form} | {work} | {r['padded_s']} | {r.get('unblocked_s', '')} | {r['invariant_s']} | {r['cost']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
