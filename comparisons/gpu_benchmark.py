"""Throughput of each strategy on a GPU, as the paper's Table 6 measures it.

    python comparisons/gpu_benchmark.py                      # needs CUDA; the shipped checkpoints, CoNLL++ test
    python comparisons/gpu_benchmark.py --device cpu --limit 200   # the same protocol on the CPU (a check)

Protocol: batch 8, mixed precision (autocast to bf16 where the GPU supports it, else fp16; fp32 on CPU),
all models loaded in one process and run in alternation, mean of 3 timed runs over the test set after a
warm-up; samples/s per strategy and the ratio to token classification. Models: ``--model NAME=PATH[@THRESHOLD]``
(default: the app's models; ``SpanDec`` is the SF-SpanDec weights at threshold 0). Data: CoNLL++ test in
``$SPANDEC_DATA_DIR`` or ../shared/data, or ``--data FILE``. Writes comparisons/results/gpu_benchmark[-cpu].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from spandec.app.pool import DEFAULT_SPECS, LoadedModel, parse_specs
from spandec.benchmark import machine_info, throughput
from spandec.data import data_dir, read_conll
from spandec.gpu import DTYPE_NAMES, autocast_dtype
from spandec.models import load_model

ROOT = Path(__file__).resolve().parent.parent


def load_models(specs, device: torch.device) -> dict[str, tuple]:
    """``name -> (model, options, served strategy)``; a folder shared by several specs is loaded once."""
    loaded, models = {}, {}
    for spec in specs:
        in_repo = not Path(spec.source).is_dir() and (ROOT / spec.source).is_dir()
        source = str(ROOT / spec.source) if in_repo else spec.source  # a folder here or in the repo, or a Hub id
        if source not in loaded:
            loaded[source] = load_model(source, device=device)
        options = {} if spec.threshold is None else {"threshold": spec.threshold}
        models[spec.name] = (loaded[source], options, LoadedModel(spec, model=loaded[source]).strategy)
    return models


def run(models: dict[str, tuple], sentences, batch_size: int, rounds: int) -> dict[str, dict]:
    """Mean samples/s of each model over ``rounds`` alternating runs, and the ratio to the token model's."""
    figures = throughput({n: m[:2] for n, m in models.items()}, sentences, batch_size=batch_size, rounds=rounds)
    token = next((n for n, m in models.items() if m[2] == "token"), None)
    out = {}
    for name, f in figures.items():
        mean = round(statistics.fmean(f["rounds"]), 1)
        out[name] = {"strategy": models[name][2], "options": models[name][1], "samples_per_second": mean,
                     "runs": f["rounds"]}
    for name in out:
        out[name]["ratio_to_token"] = round(out[name]["samples_per_second"] / out[token]["samples_per_second"], 2) \
            if token else None
    return out


def markdown(r: dict) -> str:
    """The results as a Table 6 shaped Markdown table."""
    lines = [f"## Throughput on {r['device_name']} ({r['precision']}), batch {r['batch_size']}, "
             f"{r['sentences']} {r['data']} sentences, mean of {r['rounds']} runs", "",
             "| model | strategy | samples/s | x token |", "|---|---|---:|---:|"]
    for name, e in r["models"].items():
        ratio = "" if e["ratio_to_token"] is None else f"{e['ratio_to_token']:.2f}"
        lines.append(f"| {name} | {e['strategy']} | {e['samples_per_second']:.1f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=None, metavar="NAME=PATH[@THRESHOLD]",
                   help="model to measure (repeatable; default: the app's four)")
    p.add_argument("--data", default=None, help="CoNLL file (default: conllpp/test.txt in the data dir)")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--limit", type=int, default=None, help="use only the first N sentences")
    p.add_argument("--batch-size", type=int, default=8, help="sentences per forward pass (default 8)")
    p.add_argument("--rounds", type=int, default=3, help="timed runs per model (default 3)")
    p.add_argument("--out", default=str(ROOT / "comparisons" / "results"), help="results folder")
    p.add_argument("--name", default=None, help="results file name (default gpu_benchmark, or gpu_benchmark-cpu)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_benchmark: no CUDA GPU on this machine; nothing measured. Run it where a GPU is available, "
              "or check the protocol here with --device cpu --limit 200.", file=sys.stderr)
        return 3
    data = Path(args.data) if args.data else data_dir() / "conllpp" / "test.txt"
    if not data.is_file():
        print(f"gpu_benchmark: {data}: no such file (set SPANDEC_DATA_DIR or give --data)", file=sys.stderr)
        return 2
    sentences = read_conll(data)[: args.limit]
    specs = parse_specs(args.model) if args.model else list(DEFAULT_SPECS)
    models = load_models(specs, device)
    dtype = autocast_dtype(device)
    result = {
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "precision": f"{DTYPE_NAMES[dtype]} autocast" if dtype else "fp32", "batch_size": args.batch_size,
        "rounds": args.rounds, "data": data.parent.name if data.name == "test.txt" else data.name,
        "sentences": len(sentences), "machine": machine_info(),
        "models": run(models, sentences, args.batch_size, args.rounds),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or ("gpu_benchmark" if device.type == "cuda" else "gpu_benchmark-cpu")
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
