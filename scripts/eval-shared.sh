#!/usr/bin/env bash
# Evaluates every model in ../shared/models on the 10000 Fashion-MNIST test images with
# `sharpq eval` in ONNX Runtime (CPU) and prints a Markdown table beside the top-1 recorded at
# training time. Usage: scripts/eval-shared.sh [extra sharpq eval flags, e.g. --device cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
make -s ort build >/dev/null
echo "| model | top-1 (sharpq eval) | top-1 recorded | top-5 | images/s |"
echo "| --- | --- | --- | --- | --- |"
for m in "$shared"/models/*_fmnist*.onnx; do
  meta="${m%.onnx}"; meta="${meta%_folded}.json"
  rec=$(grep -o '"top1": [0-9.]*' "$meta" | awk '{printf "%.2f", $2*100}')
  out=$(./bin/sharpq eval --model "$m" --data "$shared/data/fmnist_test_u8.npy" \
        --labels "$shared/data/fmnist_test_labels.npy" --mean 0.2860 --std 0.3530 --batch 250 --json "$@")
  top1=$(echo "$out" | grep -o '"top1":[0-9.]*' | cut -d: -f2)
  top5=$(echo "$out" | grep -o '"top5":[0-9.]*' | cut -d: -f2)
  ips=$(echo "$out" | grep -o '"images_per_s":[0-9.]*' | cut -d: -f2)
  printf '| %s | %.2f | %s | %.2f | %.0f |\n' "$(basename "$m")" "$top1" "$rec" "$top5" "$ips"
done
