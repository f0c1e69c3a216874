"""SF-SpanDec's threshold curve for the shipped weights: F1 and spans decoded at each threshold on the full test set,
and throughput at batch 8 interleaved with token classification (wall clock), written where the app's trade-off view
reads it (the ``sf_sweep`` of a compare.py results file).

    python comparisons/sf_sweep.py --model data/checkpoints/sf-spandec --token data/checkpoints/token --threads 2 \
        --update comparisons/results/conllpp.json

Writes results/sf-sweep.{json,md}; ``--update`` replaces the results file's ``sf_sweep`` (and records how it was
measured in ``sf_sweep_run``), leaving everything else as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from spandec import load_model
from spandec.benchmark import machine_info, sf_sweep, throughput
from spandec.data import data_dir, read_dataset_dir

RESULTS = Path(__file__).parent / "results"
THRESHOLDS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.95]


def measure(sf, token, test, thresholds: list[float], sentences: int, rounds: int) -> tuple[list[dict], dict]:
    """The sweep rows (full test F1 and spans decoded; samples/s on the first ``sentences``, timed as
    ``comparisons/serving.py`` times the served forms, so the curve and the served points share one scale) and the
    throughput run's settings."""
    rows = sf_sweep(sf, test, thresholds, batch_size=8)
    run = {"token": (token, {}), **{f"sf-spandec@{t:g}": (sf, {"threshold": t}) for t in thresholds}}
    print(f"throughput: {len(run)} configurations on {sentences} sentences", file=sys.stderr, flush=True)
    speed = throughput(run, test[:sentences], batch_size=8, rounds=rounds, clock="wall")
    base = speed["token"]["median"]
    for row in rows:
        v = speed[f"sf-spandec@{row['threshold']:g}"]
        row["samples_per_second"], row["relative_to_token"] = v["median"], round(v["median"] / base, 4)
        row["samples_per_second_min"], row["samples_per_second_max"] = v["min"], v["max"]
    settings = {"batch_size": 8, "samples": min(sentences, len(test)), "rounds": rounds, "clock": "wall",
                "torch_threads": torch.get_num_threads(), "token_samples_per_second": base}
    return rows, settings


def markdown(result: dict) -> str:
    """One row per threshold."""
    s = result["settings"]
    lines = [f"# SF-SpanDec threshold curve ({result['dataset']} test, {result['sentences']} sentences)", "",
             f"`{result['command']}`", "",
             f"F1 and spans decoded on the full test; samples/s at batch 8 on the first {s['samples']} sentences, "
             f"{s['torch_threads']} torch threads, wall clock, median of {s['rounds']} rounds interleaved with token "
             f"classification ({s['token_samples_per_second']} samples/s), fp32, as `serving.py` times the served forms.",
             "",
             "| threshold | spans decoded | F1 | samples/s b8 | x token |", "|---|---|---|---|---|"]
    for r in result["sf_sweep"]:
        lines.append(f"| {r['threshold']:g} | {100 * r['kept_fraction']:.1f} % | {r['f1']:.2f} | "
                     f"{r['samples_per_second']} | {r['relative_to_token']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="data/checkpoints/sf-spandec", help="an SF-SpanDec model")
    p.add_argument("--token", default="data/checkpoints/token", help="the token classification baseline")
    p.add_argument("--dataset", default="conllpp")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default $SPANDEC_DATA_DIR or ../shared/data)")
    p.add_argument("--thresholds", type=float, nargs="+", default=THRESHOLDS)
    p.add_argument("--sentences", type=int, default=300, help="test sentences timed (default 300, as serving.py)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median counts (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--name", default="sf-sweep", help="results file name")
    p.add_argument("--out", default=str(RESULTS), help="results folder (default comparisons/results)")
    p.add_argument("--update", default=None, help="a compare.py results JSON whose sf_sweep these rows replace")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sf, token = load_model(args.model, device="cpu"), load_model(args.token, device="cpu")
    if not sf.has_span_filter:
        p.error(f"{args.model} has no span filter: the curve is SF-SpanDec's")
    root = Path(args.data_dir) if args.data_dir else data_dir()
    test = read_dataset_dir(root / args.dataset)["test"]
    rows, settings = measure(sf, token, test, args.thresholds, args.sentences, args.rounds)
    command = "python " + " ".join(sys.argv)
    result = {"dataset": args.dataset, "sentences": len(test), "model": args.model, "command": command,
              "machine": machine_info(), "settings": settings, "sf_sweep": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))
    if args.update:
        path = Path(args.update)
        stored = json.loads(path.read_text())
        stored["sf_sweep"] = rows
        where = f"comparisons/results/{args.name}.json" if out.resolve() == RESULTS.resolve() else str(out / f"{args.name}.json")
        stored["sf_sweep_run"] = {"from": where, "command": command, **settings}
        path.write_text(json.dumps(stored, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
