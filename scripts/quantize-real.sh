#!/usr/bin/env bash
# Quantizes a shared model with the real calibration images (../shared/data/fmnist_cal_u8.npy)
# and evaluates the QDQ model in ONNX Runtime on the 10000 test images.
# usage: scripts/quantize-real.sh MODEL WBITS ABITS [extra sharpq quantize flags, e.g. --iters 0]
# prints one JSON line: model, bits, flags, top-1, seconds, bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
model=$1 w=$2 a=$3; shift 3
make -s ort build >/dev/null
out=$(mktemp -d)/${model}_w${w}a${a}.onnx
q=$(./bin/sharpq quantize --model "$shared/models/$model.onnx" --calib-data "$shared/data/fmnist_cal_u8.npy" \
    --mean 0.2860 --std 0.3530 --wbits "$w" --abits "$a" -o "$out" --json "$@")
e=$(./bin/sharpq eval --model "$out" --data "$shared/data/fmnist_test_u8.npy" --labels "$shared/data/fmnist_test_labels.npy" \
    --mean 0.2860 --std 0.3530 --batch 250 --json)
secs=$(echo "$q" | grep -o '"seconds": [0-9.]*' | head -1 | awk '{print $2}')
bytes=$(echo "$q" | grep -o '"bytes": [0-9]*' | awk '{print $2}')
fbytes=$(echo "$q" | grep -o '"float_bytes": [0-9]*' | awk '{print $2}')
agree=$(echo "$q" | grep -o '"top1_agreement": [0-9.]*' | awk '{print $2}')
top1=$(echo "$e" | grep -o '"top1":[0-9.]*' | cut -d: -f2)
echo "{\"model\":\"$model\",\"w\":$w,\"a\":$a,\"flags\":\"$*\",\"top1\":$top1,\"seconds\":$secs,\"bytes\":$bytes,\"float_bytes\":$fbytes,\"selfcheck_agreement\":$agree,\"date\":\"$(date -u +%F)\"}"
rm -rf "$(dirname "$out")"
