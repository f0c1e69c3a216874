#!/usr/bin/env bash
# Train strategies on one dataset with the same recipe and budget, one after another
# (resumable: rerunning continues from each run's last/ checkpoint).
# Usage: comparisons/train_all.sh DATASET EPOCHS STRATEGY... (e.g. conllpp 3 sf-spandec token pl-marker)
# Env: SPANDEC_DATA_DIR (default ../shared/data), RUNS (default runs), ENCODER (default: shipped MiniLM),
#      BATCH (effective batch, default 64),
#      INIT (a folder with one trained model per strategy, e.g. data/checkpoints: each run starts from
#      INIT/<strategy> via --init-from, moved to this dataset's labels; transfer instead of from the encoder),
#      TRAIN_ARGS (more `spandec train` options, e.g. "--sample-train-sentences 10000 --freeze-word-embeddings").
set -euo pipefail
DATA="${SPANDEC_DATA_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}"
RUNS="${RUNS:-runs}"
dataset="$1"; epochs="$2"; shift 2
dir="$DATA/$dataset"
ext=txt; [ -f "$dir/train.tsv" ] && ext=tsv
for s in "$@"; do
  spandec train --strategy "$s" --train "$dir/train.$ext" --dev "$dir/dev.$ext" --epochs "$epochs" \
    --batch-size "${BATCH:-64}" --per-device-batch-size "$(( ${BATCH:-64} < 32 ? ${BATCH:-64} : 32 ))" --output "$RUNS/$dataset/$s" \
    ${ENCODER:+--encoder "$ENCODER"} ${INIT:+--init-from "$INIT/$s"} ${TRAIN_ARGS:-} --quiet
done
