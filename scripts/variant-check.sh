#!/usr/bin/env bash
# Does sharpq treat a model written another way as the model itself? Writes MODEL (a shared
# model's name, or the bundled resnet20_fmnist) in the form of scripts/modelvariant's flag
# (e.g. -pad-nodes, -nhwc), converts both with a short schedule, and prints whether the two
# QDQ models are byte-identical, their node counts and the top-1 of the float and quantized
# models on the 10000 test images.
# usage: scripts/variant-check.sh MODEL VARIANT_FLAG [extra sharpq convert flags]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
model=$1 variant=$2; shift 2
src=$shared/models/$model.onnx
[ -f "$src" ] || src=testmodels/$model.onnx
make -s ort build >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go run ./scripts/modelvariant "$variant" -o "$dir/variant.onnx" "$src"
short=(--wbits 4 --abits 4 --images 32 --gen-batch 32 --gen-steps 20 --warmup-iters 10 --refine-steps 5 --iters 30 --threads 1)
for m in original variant; do
  in=$src; [ $m = variant ] && in=$dir/variant.onnx
  ./bin/sharpq convert "$in" -o "$dir/$m.q.onnx" "${short[@]}" "$@" >/dev/null 2>&1
  ops=$(./bin/sharpq inspect "$in" | sed -n 's/^operators *//p')
  top1() {
    ./bin/sharpq eval --model "$1" --data "$shared/data/fmnist_test_u8.npy" --labels "$shared/data/fmnist_test_labels.npy" \
      --mean 0.2860 --std 0.3530 --batch 250 --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["top1"])'
  }
  echo "$m: float model $ops, top-1 $(top1 "$in"); quantized top-1 $(top1 "$dir/$m.q.onnx"), $(stat -c %s "$dir/$m.q.onnx") bytes"
done
if cmp -s "$dir/original.q.onnx" "$dir/variant.q.onnx"; then echo "quantized models byte-identical"; else echo "quantized models differ"; fi
