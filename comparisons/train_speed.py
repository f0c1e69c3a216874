"""Training speed per strategy: single sentences in fp32 (before) against document-context samples in fp32 and with
bf16 autocast (after), measured through the real training loop (``spandec.training.train`` with ``max_steps``).

Usage:
    python comparisons/train_speed.py [--strategies token,spandec,sf-spandec] [--steps 30] [--rounds 2]
    python comparisons/train_speed.py --plm-paths [--steps 10] [--rounds 3] [--name plm-text-once]
Writes comparisons/results/<--name, default train-speed>.{json,md}. Samples/s counts training inputs (a sentence, or a
paper-style sample of ~60 words); words/s makes the two comparable. Configurations alternate within a round.
``--plm-paths`` instead times PL-Marker on the samples (bf16 autocast where the CPU has it) with its packed rows
against its text-once path: same model, same batches, alternating within each round, and reports the ratio.
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
from spandec.models.runtime import native_bf16
from spandec.training import TrainingArgs, train

RESULTS = Path(__file__).resolve().parent / "results"


def measure(strategy: str, data, labels, steps: int, batch: int, bf16: bool, window: int | None,
            text_once: bool | None = None, losses: list | None = None) -> float:
    """Seconds per optimizer step over ``steps`` steps on ``data``, after a one-step warm-up of the same model
    (``text_once``: PL-Marker's path; ``losses`` collects the measured run's mean training loss)."""
    torch.manual_seed(0)
    model = new_model(strategy, labels, window_subwords=window)
    if text_once is not None:
        model.text_once = text_once
    seconds = []
    for n in (1, steps):  # warm-up (allocator, kernels), then the measured run
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArgs(output_dir=tmp, epochs=1, batch_size=batch, per_device_batch_size=batch, max_steps=n,
                                progress=False, group_by_length=False, resume=False, cpu_bf16=bf16,
                                freeze_word_embeddings=True)
            record = train(model, data, None, args)["history"][-1]
            seconds.append(record["seconds"])
    if losses is not None:
        losses.append(record["train_loss"])
    return seconds[-1] / steps


def compare_plm_paths(args, samples, labels) -> int:
    """PL-Marker packed rows vs text once on the same samples and batches, alternating; writes the ratio."""
    bf16 = native_bf16()
    paths = {"packed": False, "text-once": True}
    times: dict[str, list[float]] = {p: [] for p in paths}
    losses: dict[str, list[float]] = {p: [] for p in paths}
    for r in range(args.rounds):
        for path, text_once in paths.items():
            t = measure("pl-marker", samples, labels, args.steps, args.batch, bf16, args.window_subwords,
                        text_once=text_once, losses=losses[path])
            times[path].append(t)
            print(f"round {r + 1} pl-marker {path}: {t:.2f} s/step, loss {losses[path][-1]:.4f}", file=sys.stderr, flush=True)
    ratios = [p / f for p, f in zip(times["packed"], times["text-once"])]
    results = {"command": "python comparisons/train_speed.py " + " ".join(args.argv), "machine": machine_info(),
               "bf16_autocast": bf16, "batch": args.batch, "steps": args.steps, "rounds": args.rounds,
               "samples": len(samples), "seconds_per_step": {p: [round(x, 3) for x in v] for p, v in times.items()},
               "train_loss": {p: [round(x, 5) for x in v] for p, v in losses.items()},
               "speedup_per_round": [round(x, 2) for x in ratios], "speedup_median": round(statistics.median(ratios), 2)}
    lines = ["# PL-Marker training: packed rows vs text once (CPU)", "", f"`{results['command']}`", "",
             f"{args.steps} steps of {args.batch} CoNLL++ 60-word samples, window {args.window_subwords} subwords, "
             f"{'bf16 autocast' if bf16 else 'fp32'}, same batches, paths alternating in each of {args.rounds} rounds.", "",
             "| path | s/step per round | mean train loss per round |", "|---|---|---|"]
    for p in paths:
        lines.append(f"| {p} | {', '.join(f'{x:.2f}' for x in times[p])} | {', '.join(f'{x:.4f}' for x in losses[p])} |")
    lines += ["", f"Text once is {results['speedup_median']}x faster per step (median; per round "
              f"{', '.join(f'{x:.2f}x' for x in ratios)})."]
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0



def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", default="token,spandec,sf-spandec")
    p.add_argument("--steps", type=int, default=30, help="optimizer steps per measurement (default 30)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    p.add_argument("--batch", type=int, default=16, help="inputs per step (default 16)")
    p.add_argument("--sentences", type=int, default=3000, help="first N CoNLL++ training sentences (default 3000)")
    p.add_argument("--window-subwords", type=int, default=128, help="window for the sample runs (default 128)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--name", default=None, help="results file name under comparisons/results "
                   "(default train-speed, with --plm-paths plm-text-once)")
    p.add_argument("--plm-paths", action="store_true", help="PL-Marker packed rows vs text once on the samples")
    args = p.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    args.name = args.name or ("plm-text-once" if args.plm_paths else "train-speed")
    train_file = Path(args.data_dir or data_dir()) / "conllpp" / "train.txt"
    sentences = read_conll(train_file)[: args.sentences]
    samples = document_samples(sentences, PAPER_SAMPLE_WORDS)
    labels = sorted({t for s in sentences for _, _, t in s.entities})
    if args.plm_paths:
        return compare_plm_paths(args, samples, labels)
    configs = {"sentences fp32": (sentences, False, None), "samples fp32": (samples, False, args.window_subwords)}
    if native_bf16():
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
