"""Scaling of ``spandec predict --file``: texts/s and peak memory, 1 and 2 workers, local processes vs Ray.

Texts are CoNLL test sentences (``$SPANDEC_DATA_DIR/conllpp/test.txt`` or ``--data``) repeated with a running
number, written to a temporary folder (never into the repository). Each setting runs the real command line in
a subprocess; peak memory is the largest sum of RSS over the process tree (Ray's raylet, GCS and actors
included; shared pages are counted once per process, so this over-states). The steady rate is taken from the
shard manifest (records done between the first finished shard and the last), the wall rate includes start-up.

    python comparisons/scaling.py --model data/checkpoints/sf-spandec --texts 1000 --memory-texts 200000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from spandec.data import data_dir, iter_conll_words  # noqa: E402

SETTINGS = {"1 process": [], "1 process, 1 thread": ["OMP_NUM_THREADS=1"], "2 processes": ["--workers", "2"],
            "Ray local, 1 actor": ["--ray", "--workers", "1"], "Ray local, 2 actors": ["--ray", "--workers", "2"]}


def tree_rss(pid: int) -> int:
    """Bytes of resident memory of ``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def write_texts(source: Path, n: int, path: Path) -> None:
    """``n`` texts: the CoNLL sentences of ``source`` in turn, each ending in its running number."""
    sentences = [" ".join(words) for _, words in iter_conll_words(source)]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(f"{sentences[i % len(sentences)]} {i}\n")


def run(model: str, texts: Path, out: Path, extra: list[str], shard_size: int) -> dict:
    """One ``spandec predict`` run: wall and steady texts/s, peak tree RSS, records written (ids checked)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    env.update(a.split("=", 1) for a in extra if "=" in a)  # NAME=value: environment of the run
    cmd = [sys.executable, "-m", "spandec.cli", "predict", model, "--file", str(texts), "--output", str(out),
           "--shard-size", str(shard_size), "--batch-size", "32", "--quiet", *[a for a in extra if "=" not in a]]
    manifest = out.with_name(out.name + ".parts") / "manifest.json"
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    peak, marks = 0, []
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        try:
            done = sum(n for n, _ in json.loads(manifest.read_text())["done"].values())
            if not marks or marks[-1][1] != done:
                marks.append((time.perf_counter() - start, done))
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.strip().splitlines()[-1]}")
    ids, n = set(), 0
    with open(out, encoding="utf-8") as f:
        for line in f:
            ids.add(json.loads(line)["id"])
            n += 1
    steady = None
    if len(marks) >= 2 and marks[-1][0] > marks[0][0]:
        steady = (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
    out.unlink()
    return {"wall_s": round(wall, 1), "texts_per_s_wall": round(n / wall, 1),
            "texts_per_s_steady": round(steady, 1) if steady else None, "peak_rss_mib": round(peak / 2**20),
            "records_written": n, "unique_ids": len(ids)}


def tiny_model(folder: Path) -> str:
    """A tiny randomly initialised token-classification model (2 layers, 32 wide) saved to ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    import spandec
    from spandec.models.encoder import load_tokenizer

    torch.manual_seed(0)
    enc = folder / "tiny-encoder"
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128), add_pooling_layer=False).save_pretrained(enc)
    load_tokenizer("default").save_pretrained(enc)
    spandec.new_model("token", ["LOC", "MISC", "ORG", "PER"], str(enc)).save_pretrained(folder / "tiny")
    return str(folder / "tiny")


def estimate(best_steady: float, ray_ratio: float, cores: int, texts: float = 1e8) -> dict:
    """Machines x hours for ``texts`` from the measured per-core rate and Ray's measured efficiency."""
    per_core = best_steady / cores * ray_ratio
    core_hours = texts / per_core / 3600
    return {"texts": texts, "per_core_texts_per_s_on_ray": round(per_core, 1), "core_hours": round(core_hours),
            "hours_on_10x16_cores": round(core_hours / 160, 1), "machines_16_cores_for_24h": int(-(-core_hours // (16 * 24)))}


def markdown(result: dict) -> str:
    lines = [f"# Scaling of `spandec predict` ({result['model']}, {result['texts']:,} texts, {result['cores']} cores, "
             f"load average {result['load_average']})", "",
             "| setting | wall s | texts/s (wall) | texts/s (steady) | peak RSS MiB | records | unique ids |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in result["settings"].items():
        lines.append(f"| {name} | {r['wall_s']} | {r['texts_per_s_wall']} | {r['texts_per_s_steady']} | "
                     f"{r['peak_rss_mib']} | {r['records_written']:,} | {r['unique_ids']:,} |")
    if "ray_ratio" in result:
        lines += ["", f"Ray local with 2 actors / best single-process setting (steady texts/s): **{result['ray_ratio']}** "
                  f"(target >= 0.9); on wall time: {result['ray_ratio_wall']}.", ""]
    if "memory" in result:
        m = result["memory"]
        lines += [f"Memory: {m['texts']:,} short texts through `spandec predict` (1 process, 1 thread, tiny random token model): "
                  f"peak RSS {m['peak_rss_mib']} MiB (target < 1536), {m['records_written']:,} records, "
                  f"{m['unique_ids']:,} unique ids, {m['texts_per_s_wall']} texts/s.", ""]
    e = result.get("estimate")
    lines += [] if e is None else [f"Estimate for {e['texts']:,.0f} texts: {e['per_core_texts_per_s_on_ray']} texts/s per core on Ray, "
              f"{e['core_hours']:,} core-hours: {e['hours_on_10x16_cores']} h on 10 machines of 16 cores, or "
              f"{e['machines_16_cores_for_24h']} such machines for 24 h.", ""]
    lines += [NOTE, ""]
    return "\n".join(lines)


NOTE = ("Notes: measured on a shared 2-core machine while other jobs ran (load average in the title), so absolute rates are noisy and pessimistic; the 2-thread single process suffers most from the contention. Peak RSS sums the process tree (Ray: raylet, GCS, dashboard agent and actors), shared pages counted once per process. The steady rate comes from the shard manifest; Ray returns shards in bursts, so its steady figure is rough and the wall-time ratio is given beside it. The estimate uses the best local steady rate per core times Ray's measured ratio (capped at 1).")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(REPO / "data" / "checkpoints" / "sf-spandec"))
    p.add_argument("--data", default=None, help="CoNLL file (default $SPANDEC_DATA_DIR/conllpp/test.txt)")
    p.add_argument("--texts", type=int, default=5000)
    p.add_argument("--memory-texts", type=int, default=0, help="also stream this many texts with a tiny model")
    p.add_argument("--settings", nargs="*", default=list(SETTINGS))
    p.add_argument("--output", default=str(REPO / "comparisons" / "results" / "scaling"))
    args = p.parse_args()
    source = Path(args.data) if args.data else data_dir() / "conllpp" / "test.txt"
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="spandec-scaling-") as tmp:
        tmp = Path(tmp)
        texts = tmp / "texts.txt"
        write_texts(source, args.texts, texts)
        result = {"model": os.path.relpath(args.model, REPO), "texts": args.texts, "cores": cores,
                  "load_average": round(os.getloadavg()[0], 1), "settings": {}}
        for name in args.settings:
            result["settings"][name] = run(args.model, texts, tmp / "out.jsonl", SETTINGS[name], 100)
            print(name, result["settings"][name], file=sys.stderr)
        rates = {k: v["texts_per_s_steady"] or v["texts_per_s_wall"] for k, v in result["settings"].items()}
        walls = {k: v["texts_per_s_wall"] for k, v in result["settings"].items()}
        if any(not k.startswith("Ray") for k in rates):  # ratios and the estimate need a local setting
            local = max(v for k, v in rates.items() if not k.startswith("Ray"))
            result["ray_ratio"] = round(rates.get("Ray local, 2 actors", 0) / local, 2)
            result["ray_ratio_wall"] = round(walls.get("Ray local, 2 actors", 0) /
                                             max(v for k, v in walls.items() if not k.startswith("Ray")), 2)
            result["estimate"] = estimate(local, min(1.0, result["ray_ratio"]) or 1.0, cores)
        if args.memory_texts:
            write_texts(source, args.memory_texts, texts)
            result["memory"] = {"texts": args.memory_texts,
                                **run(tiny_model(tmp), texts, tmp / "out.jsonl", ["OMP_NUM_THREADS=1"], 10000)}
            print("memory", result["memory"], file=sys.stderr)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output + ".json").write_text(json.dumps(result, indent=2) + "\n")
    Path(args.output + ".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
