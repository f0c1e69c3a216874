"""Where inference time goes: wall time of each model, then a cProfile of the last one, at batch 8.

    python comparisons/profile_inference.py data/checkpoints/token data/checkpoints/sf-spandec \
        --sentences 800 --threads 1

Runs on the first N CoNLL++ test sentences (or --data FILE); prints seconds per model and the
spandec / encoder functions of the last model sorted by cumulative time.
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
    p.add_argument("--sparse", action="store_true",
                   help="SpanDec: force the sparse first-layer rows path (DecoderLayer.dense_limit = 0)")
    args = p.parse_args(argv)
    if args.sparse:
        DecoderLayer.dense_limit = 0
    if args.threads:
        torch.set_num_threads(args.threads)
    test = read_conll(args.data or data_dir() / "conllpp" / "test.txt")[: args.sentences]
    docs = [Document.from_input(s.words) for s in test]
    models = [(path, load_model(path, device="cpu")) for path in args.models]
    for path, model in models:
        model.predict_candidates(docs[:50], batch_size=8)  # warm-up
        start = time.perf_counter()
        model.predict_candidates(docs, batch_size=8)
        print(f"{path}: {time.perf_counter() - start:.2f} s for {len(docs)} sentences, "
              f"{torch.get_num_threads()} threads")
    profile = cProfile.Profile()
    profile.enable()
    models[-1][1].predict_candidates(docs, batch_size=8)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats("spandec|modeling_bert", args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
