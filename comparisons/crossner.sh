#!/usr/bin/env bash
# CrossNER, all five domains: per domain, train on its train set (best on its dev set), compare on its
# test set (results/crossner-<domain>.json/md), then the summary results/crossner.json/md
# (per-domain micro F1 and their mean; comparisons/aggregate.py).
# Usage: comparisons/crossner.sh EPOCHS STRATEGY...   (e.g. 20 token sf-spandec)
# Env: as train_all.sh (BATCH, INIT, RUNS, ...); ROUNDS (throughput rounds, default 3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
RUNS="${RUNS:-runs}"
epochs="$1"; shift
for d in politics science music literature ai; do
  "$here/train_all.sh" "crossner/$d" "$epochs" "$@"
  models=(); for s in "$@"; do models+=(--model "$s=$RUNS/crossner/$d/$s/best"); done
  python "$here/compare.py" --dataset "crossner/$d" --name "crossner-$d" --rounds "${ROUNDS:-3}" "${models[@]}"
done
python "$here/aggregate.py" crossner "$here"/results/crossner-{politics,science,music,literature,ai}.json
