#!/usr/bin/env bash
# The whole `sharpq convert` path (synthesis, warm-up, SADAG refinement, reconstruction, QDQ
# export, self-check in ONNX Runtime) with a tiny schedule on torchvision models of other
# families (scripts/torchvision-families.py exports them into DIR). Random weights: what
# counts is that each model converts and its export matches the simulation, and what it
# costs. One line per model: name, exit status, seconds, peak RSS, blocks, self-check.
# usage: scripts/families.sh DIR [MODEL...]   (default: every DIR/*.onnx; THREADS=1 and IMAGES=16 by default)
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
make -s ort build >/dev/null || exit 1
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  for f in "$dir"/*.onnx; do case $f in *.q.onnx) ;; *) models+=("$(basename "$f" .onnx)");; esac; done
fi
for m in "${models[@]}"; do
  log=$dir/$m.log
  /usr/bin/time -v ./bin/sharpq convert "$dir/$m.onnx" -o "$dir/$m.q.onnx" --wbits 4 --abits 4 --images "${IMAGES:-16}" --gen-batch "${IMAGES:-16}" \
    --gen-steps 5 --warmup-iters 5 --refine-steps 2 --iters 5 --threads "${THREADS:-1}" --json >"$dir/$m.json" 2>"$log"
  rc=$?
  secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  blocks=$(grep -c '"kind"' "$dir/$m.json" 2>/dev/null)
  check=$(grep -o 'self-check: .*' "$log" | tail -1 | tr -d '"')
  err=$(grep '^sharpq: error' "$log" | head -1)
  echo "$m rc=$rc time=$secs peak_rss_kb=$rss blocks=${blocks:-0} ${check:-$err}"
done
