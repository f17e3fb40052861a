#!/usr/bin/env bash
# Peak resident memory and wall time at ImageNet size, for two sharpq builds one after the
# other: quantize of torchvision's ResNet-18 on 256 calibration images and of MobileNetV2 on
# 64 (an ImageNet-like JPEG folder from scripts/imagefolder, torchvision's preprocessing, 2
# reconstruction steps per block, so that the set-up, every block's caches and training
# session, and the export are all measured), generate of MobileNetV2 (16 images, 10 steps),
# and a Fashion-MNIST quantize (150 steps per block) for the time at 32×32:
#   scripts/memory-bench.sh OLD_SHARPQ NEW_SHARPQ
# Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2
make -s ort >/dev/null
export SHARPQ_ORT_LIB=$PWD/.ort/libonnxruntime.so.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./scripts/imagefolder -o "$tmp/folder" -n 256
arch=../shared/models/imagenet_arch
pre=(--calib-data "$tmp/folder" --resize 256 --crop 224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --iters 2 --threads 2)
fm=(--calib-data ../shared/data/fmnist_cal_u8.npy --mean 0.2860 --std 0.3530 --iters 150 --threads 2)
jobs=(
  "quantize resnet18, 256 images|quantize --model $arch/resnet18_imagenet_arch.onnx ${pre[*]} -o $tmp/q.onnx"
  "quantize mobilenet_v2, 64 images|quantize --model $arch/mobilenet_v2_imagenet_arch.onnx ${pre[*]} --calib-images 64 -o $tmp/q.onnx"
  "generate mobilenet_v2, 16 images × 10 steps|generate $arch/mobilenet_v2_imagenet_arch.onnx -o $tmp/g --images 16 --gen-batch 16 --gen-steps 10 --threads 2"
  "quantize mobilenetv2_fmnist, 1024 images × 150 steps|quantize --model ../shared/models/mobilenetv2_fmnist.onnx ${fm[*]} -o $tmp/q.onnx"
)
echo "| job | build | wall | peak RSS |"
echo "| --- | --- | --- | --- |"
for job in "${jobs[@]}"; do
  name=${job%%|*} args=${job#*|}
  for bin in "$old" "$new"; do
    rm -rf "$tmp/q.onnx" "$tmp/g"
    # shellcheck disable=SC2086 # the job's arguments hold no spaces
    /usr/bin/time -f "%e %M" -o "$tmp/time" "$bin" $args 2>"$tmp/log" >/dev/null || { cat "$tmp/log"; exit 1; }
    read -r wall rss <"$tmp/time"
    awk -v j="$name" -v b="$bin" -v w="$wall" -v r="$rss" 'BEGIN { printf "| %s | %s | %s s | %.2f GB |\n", j, b, w, r / 1048576 }'
  done
done
