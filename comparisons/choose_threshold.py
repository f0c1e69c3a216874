"""Choose SF-SpanDec's default span-filter threshold on dev data and record it in the model's config.json.

    python comparisons/choose_threshold.py runs/conllpp/sf-spandec/best ../shared/data/conllpp/dev.txt \
        --sample-words 60 --max-decoded 0.10 --write

Every candidate span of each dev input is scored once (``score_spans``); each threshold of the grid is then
re-scored without the model (the keep rule the model applies). The chosen threshold is the one with the best
dev F1 among those that decode at most ``--max-decoded`` of the candidate spans (ties: the higher threshold,
fewer spans). ``--write`` stores it as the model's default (``config.threshold``); the sweep goes to
``--out`` (JSON) either way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spandec import load_model
from spandec.data import read_conll
from spandec.evaluation import rescore
from spandec.models.explain import score_spans
from spandec.models.runtime import CONFIG_NAME
from spandec.samples import document_samples
from spandec.spans import check_threshold

GRID = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)


def sweep(model, sentences, grid=GRID, batch_size: int = 16) -> list[dict]:
    """Dev F1, precision, recall and the share of candidate spans decoded at each threshold of ``grid``."""
    scores = score_spans(model, [s.words for s in sentences], batch_size=batch_size)
    gold = [s.tags for s in sentences]
    rows = []
    for t in grid:
        r = rescore(gold, scores, t)
        rows.append({"threshold": t, "f1": r["f1"], "precision": r["precision"], "recall": r["recall"],
                     "decoded": round(r["kept_fraction"], 4)})
    return rows


def choose(rows: list[dict], max_decoded: float) -> dict:
    """The row with the best F1 among those decoding at most ``max_decoded`` (ties: the higher threshold)."""
    ok = [r for r in rows if r["decoded"] <= max_decoded]
    if not ok:
        raise SystemExit(f"no threshold of the grid decodes at most {max_decoded:.0%} of the candidate spans")
    return max(ok, key=lambda r: (r["f1"], r["threshold"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="an SF-SpanDec model folder")
    p.add_argument("dev", help="dev data (CoNLL)")
    p.add_argument("--sample-words", type=int, default=60, help="pack dev sentences into document samples (0: sentences)")
    p.add_argument("--max-decoded", type=float, default=0.10, help="most candidate spans the filter may keep")
    p.add_argument("--write", action="store_true", help="record the chosen threshold in the model's config.json")
    p.add_argument("--out", default=None, help="sweep JSON (default: MODEL/threshold_sweep.json)")
    args = p.parse_args()
    model = load_model(args.model, device="cpu")
    if not model.has_span_filter:
        raise SystemExit(f"{args.model} is a {model.strategy} model: it has no span filter")
    dev = read_conll(args.dev)
    inputs = document_samples(dev, args.sample_words) if args.sample_words else dev
    rows = sweep(model, inputs)
    best = choose(rows, args.max_decoded)
    for r in rows:
        mark = " <- chosen" if r is best else ""
        print(f"threshold {r['threshold']:.2f}: F1 {r['f1']:.2f} (P {r['precision']:.2f} R {r['recall']:.2f}), "
              f"decoded {100 * r['decoded']:.1f} %{mark}")
    out = Path(args.out or Path(args.model) / "threshold_sweep.json")
    out.write_text(json.dumps({"model": args.model, "dev": args.dev, "sample_words": args.sample_words,
                               "max_decoded": args.max_decoded, "chosen": best, "sweep": rows}, indent=2) + "\n")
    if args.write:
        config_path = Path(args.model) / CONFIG_NAME
        config = json.loads(config_path.read_text())
        config["threshold"] = check_threshold(best["threshold"])
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        print(f"{config_path}: threshold {best['threshold']}")


if __name__ == "__main__":
    main()
