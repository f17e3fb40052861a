#!/usr/bin/env bash
# The QDQ export at opset 21 (int4/uint4) against --export-opset 13 (the same grids in
# int8/uint8): for resnet20_fmnist and mobilenetv2_fmnist, round-to-nearest W4A4 on the shared
# calibration images, each export's size, top-1 on the 10000 test images and `sharpq bench`
# against the float model; then the ImageNet-size resnet18 fixture (random calibration images:
# speed only); then which of the Fashion-MNIST exports ONNX Runtime 1.16.3, 1.14.0, 1.13.1 and
# 1.12.1 load and what they score
# (scripts/old-ort-check.sh). Run on an otherwise idle machine.
# usage: scripts/export-opset-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
make -s ort build >/dev/null
export SHARPQ_ORT_LIB=$PWD/.ort/libonnxruntime.so.1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
data=(--data "$shared/data/fmnist_test_u8.npy" --labels "$shared/data/fmnist_test_labels.npy" --mean 0.2860 --std 0.3530)
for m in resnet20_fmnist mobilenetv2_fmnist; do
  for o in 21 13; do
    ./bin/sharpq quantize --model "$shared/models/$m.onnx" --calib-data "$shared/data/fmnist_cal_u8.npy" --mean 0.2860 --std 0.3530 \
      -o "$dir/${m}_$o.onnx" --wbits 4 --abits 4 --iters 0 --export-opset $o >/dev/null 2>&1
    echo "$m opset $o: $(./bin/sharpq eval "$dir/${m}_$o.onnx" "${data[@]}" | tail -1)"
    ./bin/sharpq bench "$shared/models/$m.onnx" --quantized "$dir/${m}_$o.onnx" --runs 100 | tail -2
  done
done
r18=$shared/models/imagenet_arch/resnet18_imagenet_arch.onnx
if [ -f "$r18" ]; then
  /usr/bin/python3 -c "import numpy as np; np.random.seed(0); np.save('$dir/r224.npy', np.random.randn(32,3,224,224).astype('float32'))"
  for o in 21 13; do
    ./bin/sharpq quantize --model "$r18" --calib-data "$dir/r224.npy" -o "$dir/r18_$o.onnx" --wbits 4 --abits 4 --iters 0 --export-opset $o >/dev/null 2>&1
    echo "resnet18 (3×224×224) opset $o:"
    ./bin/sharpq bench "$r18" --quantized "$dir/r18_$o.onnx" --runs 10 --batch 16 | tail -2
  done
fi
for v in 1.16.3 1.14.0 1.13.1 1.12.1; do
  scripts/old-ort-check.sh $v "$dir"/resnet20_fmnist_21.onnx "$dir"/resnet20_fmnist_13.onnx "$dir"/mobilenetv2_fmnist_13.onnx
done
