#!/usr/bin/env bash
# Time and peak memory of `sharpq eval` on an ImageNet-like folder (scripts/imagefolder: 1000
# JPEGs of ImageNet's sizes) with torchvision's evaluation preprocessing, for two sharpq
# builds one after the other, twice each, and once with --limit 250:
#   scripts/eval-folder-bench.sh OLD_SHARPQ NEW_SHARPQ [MODEL]
# Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2
model=${3:-../shared/models/imagenet_arch/resnet18_imagenet_arch.onnx}
make -s ort >/dev/null
export SHARPQ_ORT_LIB=$PWD/.ort/libonnxruntime.so.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./scripts/imagefolder -o "$tmp/folder" -n 1000
pre=(--resize 256 --crop 224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
echo "| build | images | wall | peak RSS | images/s (eval loop) |"
echo "| --- | --- | --- | --- | --- |"
for run in "$old" "$new" "$old" "$new" "$old --limit 250" "$new --limit 250"; do
  set -- $run
  bin=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$bin" eval "$model" --data "$tmp/folder" "${pre[@]}" --json "$@" >"$tmp/out.json"
  read -r wall rss <"$tmp/time"
  ips=$(sed 's/.*"images_per_s":\([0-9.]*\).*/\1/' "$tmp/out.json")
  imgs=$(sed 's/.*"images":\([0-9]*\).*/\1/' "$tmp/out.json")
  awk -v b="$bin $*" -v n="$imgs" -v w="$wall" -v r="$rss" -v i="$ips" 'BEGIN { printf "| %s | %s | %s s | %.2f GB | %.1f |\n", b, n, w, r / 1048576, i }'
done
