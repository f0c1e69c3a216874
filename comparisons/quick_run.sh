#!/usr/bin/env bash
# Issue 2's short real run: each strategy, 1 epoch on the first 2,000 CoNLL++ training
# sentences, dev on the full CoNLL++ dev set. Usage: comparisons/quick_run.sh [OUT_DIR]
set -euo pipefail
DATA="${SPANDEC_DATA_DIR:-$(dirname "$0")/../../shared/data}"
OUT="${1:-runs/quick}"
for s in token spandec sf-spandec pl-marker; do
  spandec train --strategy "$s" --train "$DATA/conllpp/train.txt" --dev "$DATA/conllpp/dev.txt" \
    --max-train-sentences 2000 --epochs 1 --output "$OUT/$s" --quiet
done
