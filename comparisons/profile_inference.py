"""Where inference time goes: time of each model split into stages, then a cProfile of the last one, at batch 8.

    python comparisons/profile_inference.py data/checkpoints/token data/checkpoints/sf-spandec \
        --sentences 800 --threads 1 --precision onnx-int8

Runs on the first N CoNLL++ test sentences (or --data FILE), in one predict call or ``--call-size`` documents per call
(8: as the serving benchmark calls); prints, per model, process CPU seconds in
the encoder (``run_encoder``: torch or ONNX Runtime), the span decoder (``decode_flat``), the span
filter's word head, and everything else (tokenising, windows, span bookkeeping, decoding to entities),
median of --rounds interleaved rounds; then the spandec / encoder functions of the last model sorted by
cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time

import torch

from spandec import load_model
from spandec.data import data_dir, read_conll
from spandec.models.spandec import DecoderLayer
from spandec.spans import Document


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="trained model folders; the last one is profiled")
    p.add_argument("--data", default=None, help="CoNLL file (default: CoNLL++ test in the data dir)")
    p.add_argument("--sentences", type=int, default=800, help="sentences to run (default 800)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--lines", type=int, default=30, help="profile lines to print")
    p.add_argument("--precision", default=None, help="load every model in this precision (fp32, bf16, int8, onnx, onnx-int8)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (default 3)")
    p.add_argument("--call-size", type=int, default=None,
                   help="documents per predict call (default: all in one; 8: the serving benchmark's calls, which split "
                        "into batches of one window length)")
    p.add_argument("--sparse", action="store_true",
                   help="SpanDec: force the sparse first-layer rows path (DecoderLayer.dense_limit = 0)")
    args = p.parse_args(argv)
    if args.sparse:
        DecoderLayer.dense_limit = 0
    if args.threads:
        torch.set_num_threads(args.threads)
    test = read_conll(args.data or data_dir() / "conllpp" / "test.txt")[: args.sentences]
    docs = [Document.from_input(s.words) for s in test]
    models = [(path, load_model(path, device="cpu", precision=args.precision)) for path in args.models]
    rounds: dict[str, list[dict[str, float]]] = {path: [] for path, _ in models}
    for path, model in models:
        model.predict_candidates(docs[:50], batch_size=8)  # warm-up
    calls = [docs[k : k + args.call_size] for k in range(0, len(docs), args.call_size)] if args.call_size else [docs]
    for _ in range(args.rounds):
        for path, model in models:
            rounds[path].append(stage_times(model, calls))
    print(f"CPU seconds for {len(docs)} sentences at batch 8 ({len(calls)} predict calls), {torch.get_num_threads()} threads, "
          f"median of {args.rounds} rounds")
    print("| model | precision | total | encoder | span decoder | filter head | rest |")
    print("|---|---|---|---|---|---|---|")
    for path, model in models:
        med = {k: sorted(r[k] for r in rounds[path])[len(rounds[path]) // 2] for k in rounds[path][0]}
        print(f"| {path} | {model.precision} | {med['total']:.3f} | {med['encoder']:.3f} | {med['decoder']:.3f} | "
              f"{med['filter']:.3f} | {med['total'] - med['encoder'] - med['decoder'] - med['filter']:.3f} |")
    profile = cProfile.Profile()
    profile.enable()
    models[-1][1].predict_candidates(docs, batch_size=8)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats("spandec|modeling_bert", args.lines)
    return 0


def stage_times(model, calls) -> dict[str, float]:
    """Process CPU seconds of one pass over the documents of ``calls`` (one predict call each, batch 8): total and the
    stages timed through wrappers."""
    spent = {"encoder": 0.0, "decoder": 0.0, "filter": 0.0}
    # the filter head: word_probs (token_logits in checkouts before it, so older code can be profiled the same way)
    patched = {"run_encoder": "encoder", "decode_flat": "decoder", "word_probs": "filter", "token_logits": "filter"}

    def timed(stage, fn):
        def run(*a, **k):
            start = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[stage] += time.process_time() - start
        return run

    for name, stage in patched.items():
        if hasattr(model, name) and not (name == "token_logits" and hasattr(model, "word_probs")):
            setattr(model, name, timed(stage, getattr(model, name)))
    try:
        start = time.process_time()
        for docs in calls:
            model.predict_candidates(docs, batch_size=8)
        total = time.process_time() - start
    finally:
        for name in patched:
            model.__dict__.pop(name, None)
    # the filter head runs on the encoder's output inside no other stage; the decoder never calls run_encoder
    return {"total": total, **spent}


if __name__ == "__main__":
    sys.exit(main())
