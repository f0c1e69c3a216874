"""Training speed per strategy: single sentences in fp32 (before) against document-context samples in fp32 and with
bf16 autocast (after), measured through the real training loop (``spandec.training.train`` with ``max_steps``).

Usage:
    python comparisons/train_speed.py [--strategies token,spandec,sf-spandec] [--steps 30] [--rounds 2]
Writes comparisons/results/<--name, default train-speed>.{json,md}. Samples/s counts training inputs (a sentence, or a
paper-style sample of ~60 words); words/s makes the two comparable. Configurations alternate within a round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from spandec import new_model
from spandec.benchmark import machine_info
from spandec.data import data_dir, read_conll
from spandec.samples import PAPER_SAMPLE_WORDS, document_samples
from spandec.training import TrainingArgs, cpu_supports_bf16, train

RESULTS = Path(__file__).resolve().parent / "results"


def measure(strategy: str, data, labels, steps: int, batch: int, bf16: bool, window: int | None) -> float:
    """Seconds per optimizer step over ``steps`` steps on ``data``, after a one-step warm-up of the same model."""
    torch.manual_seed(0)
    model = new_model(strategy, labels, window_subwords=window)
    seconds = []
    for n in (1, steps):  # warm-up (allocator, kernels), then the measured run
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArgs(output_dir=tmp, epochs=1, batch_size=batch, per_device_batch_size=batch, max_steps=n,
                                progress=False, group_by_length=False, resume=False, cpu_bf16=bf16,
                                freeze_word_embeddings=True)
            seconds.append(train(model, data, None, args)["history"][-1]["seconds"])
    return seconds[-1] / steps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", default="token,spandec,sf-spandec")
    p.add_argument("--steps", type=int, default=30, help="optimizer steps per measurement (default 30)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    p.add_argument("--batch", type=int, default=16, help="inputs per step (default 16)")
    p.add_argument("--sentences", type=int, default=3000, help="first N CoNLL++ training sentences (default 3000)")
    p.add_argument("--window-subwords", type=int, default=128, help="window for the sample runs (default 128)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--name", default="train-speed", help="results file name under comparisons/results (default %(default)s)")
    args = p.parse_args(argv)
    train_file = Path(args.data_dir or data_dir()) / "conllpp" / "train.txt"
    sentences = read_conll(train_file)[: args.sentences]
    samples = document_samples(sentences, PAPER_SAMPLE_WORDS)
    labels = sorted({t for s in sentences for _, _, t in s.entities})
    configs = {"sentences fp32": (sentences, False, None), "samples fp32": (samples, False, args.window_subwords)}
    if cpu_supports_bf16():
        configs["samples bf16"] = (samples, True, args.window_subwords)
    words = {name: statistics.fmean(len(s.words) for s in data) for name, (data, _, _) in configs.items()}
    times: dict[str, dict[str, list[float]]] = {s: {c: [] for c in configs} for s in args.strategies.split(",")}
    for r in range(args.rounds):
        for strategy in times:
            for name, (data, bf16, window) in configs.items():
                t = measure(strategy, data, labels, args.steps, args.batch, bf16, window)
                times[strategy][name].append(t)
                print(f"round {r + 1} {strategy} {name}: {args.batch / t:.1f} samples/s", file=sys.stderr, flush=True)
    results = {"command": "python comparisons/train_speed.py " + " ".join(argv or sys.argv[1:]),
               "machine": machine_info(), "batch": args.batch, "steps": args.steps, "rounds": args.rounds,
               "mean_words": {k: round(v, 1) for k, v in words.items()}, "strategies": {}}
    lines = ["# Training speed (CPU)", "", f"`{results['command']}`", "",
             f"{args.steps} steps of {args.batch} inputs, median of {args.rounds} alternating rounds; "
             f"mean words per input: " + ", ".join(f"{k} {v:.1f}" for k, v in words.items()), "",
             "| strategy | " + " | ".join(f"{c} samples/s (words/s)" for c in configs) + " | bf16 vs fp32 samples |",
             "|---|" + "---|" * (len(configs) + 1)]
    for strategy, per in times.items():
        row = {c: {"samples_per_s": round(args.batch / statistics.median(v), 2),
                   "words_per_s": round(args.batch * words[c] / statistics.median(v), 1),
                   "seconds_per_step": [round(x, 3) for x in v]} for c, v in per.items()}
        results["strategies"][strategy] = row
        speedup = (row["samples bf16"]["samples_per_s"] / row["samples fp32"]["samples_per_s"]) if "samples bf16" in row else None
        lines.append(f"| {strategy} | " + " | ".join(f"{row[c]['samples_per_s']} ({row[c]['words_per_s']:.0f})"
                                                   for c in configs) + f" | {speedup and round(speedup, 2)}x |")
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
