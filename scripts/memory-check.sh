#!/usr/bin/env bash
# convert's peak resident memory against its own estimate: a tiny-schedule convert of MODEL
# with generator batches of BATCH images (one batch, one thread), its maximum resident set
# size from /usr/bin/time -v, and `sharpq inspect --images BATCH --gen-batch BATCH`'s estimate.
# usage: scripts/memory-check.sh MODEL.onnx BATCH   (prints: model batch measured estimate error)
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 batch=$2
make -s ort build >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/time -v ./bin/sharpq convert "$model" -o "$dir/q.onnx" --wbits 4 --abits 4 --images "$batch" --gen-batch "$batch" \
  --gen-steps 3 --warmup-iters 3 --refine-steps 2 --iters 3 --threads 1 >/dev/null 2>"$dir/log"
kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/log")
est=$(./bin/sharpq inspect --json --images "$batch" --gen-batch "$batch" "$model" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["convert_memory"]["peak_bytes"])')
/usr/bin/python3 -c "import sys; m=$kb*1024; e=$est; print(f'$(basename "$model" .onnx) batch $batch measured {m/1e9:.2f} GB estimate {e/1e9:.2f} GB ({100*(e-m)/m:+.0f} %)')"
