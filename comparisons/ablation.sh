#!/usr/bin/env bash
# Paper Table 8 ablation on CoNLL++ for SpanDec: encoder/decoder depth (5+1, 4+1, 3+1, 4+2, 3+3).
# Usage: comparisons/ablation.sh EPOCHS   (writes runs/ablation/<enc>+<dec>/ and results/ablation.json)
# Env: BATCH (effective batch, default 64; 16 gives the span decoder 4x the steps per epoch).
set -euo pipefail
DATA="${SPANDEC_DATA_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}"
epochs="${1:-3}"
batch="${BATCH:-64}"; per=$(( batch < 32 ? batch : 32 ))
for cfg in 5+1 4+1 3+1 4+2 3+3; do
  enc="${cfg%+*}"; dec="${cfg#*+}"
  spandec train --strategy spandec --train "$DATA/conllpp/train.txt" --dev "$DATA/conllpp/dev.txt" \
    --epochs "$epochs" --batch-size "$batch" --per-device-batch-size "$per" --encoder-layers "$enc" --decoder-layers "$dec" \
    --output "runs/ablation/$cfg" --quiet
  spandec evaluate "runs/ablation/$cfg/best" "$DATA/conllpp/test.txt" --json "runs/ablation/$cfg/test.json" >/dev/null
done
python - "$@" <<'PY'
import json, pathlib
from spandec import NERModel
from spandec.flops import EncoderShape, spandec_gflops
rows = {}
for d in sorted(pathlib.Path("runs/ablation").iterdir()):
    m = NERModel.from_pretrained(d / "best")
    enc = EncoderShape.from_hf_config(m.encoder.config)
    full = EncoderShape(6, enc.hidden, enc.heads, enc.ffn)
    g = spandec_gflops(full, 44, 324, encoder_layers=enc.layers, decoder_layers=m.config.decoder_layers)
    rows[d.name] = {"test_f1": json.loads((d / "test.json").read_text())["f1"], "gflops_S44_M324": round(g, 3)}
out = pathlib.Path("comparisons/results/ablation.json")
out.write_text(json.dumps(rows, indent=2) + "\n")
print(json.dumps(rows, indent=2))
PY
