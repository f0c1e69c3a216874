#!/usr/bin/env bash
# Paper Table 8 ablation on CoNLL++ for SpanDec: encoder/decoder depth 5+1, 4+1, 3+1, 4+2, 3+3.
# Usage: comparisons/ablation.sh EPOCHS [CONFIG...]   (default configs: all five)
# Trains RUNS/ablation/<enc>+<dec>/ (resumable), then comparisons/ablation.py writes results/ablation.{json,md}.
# Env: BATCH (effective batch, default 64); STRATEGY (spandec or sf-spandec, default spandec);
#      INIT=MODEL: warm start, each config from this trained SpanDec/SF-SpanDec (its first <enc> encoder
#      layers, its decoder layer, extra decoder layers starting as the identity), instead of from the encoder;
#      RUNS (default runs); SPANDEC_DATA_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
DATA="${SPANDEC_DATA_DIR:-$here/../../shared/data}"
RUNS="${RUNS:-runs}"
epochs="${1:-3}"; shift || true
configs=("$@"); [ ${#configs[@]} -gt 0 ] || configs=(5+1 4+1 3+1 4+2 3+3)
batch="${BATCH:-64}"; per=$(( batch < 32 ? batch : 32 ))
strategy="${STRATEGY:-spandec}"
init=(); [ -z "${INIT:-}" ] || init=(--init-from "$INIT")
for cfg in "${configs[@]}"; do
  enc="${cfg%+*}"; dec="${cfg#*+}"
  spandec train --strategy "$strategy" --train "$DATA/conllpp/train.txt" --dev "$DATA/conllpp/dev.txt" \
    --epochs "$epochs" --batch-size "$batch" --per-device-batch-size "$per" --encoder-layers "$enc" --decoder-layers "$dec" \
    --freeze-word-embeddings "${init[@]}" --output "$RUNS/ablation/$cfg" --quiet
done
python "$here/ablation.py" "$RUNS/ablation" --test "$DATA/conllpp/test.txt"
