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
/usr/bin/python3 - "$q" "$e" "$model" "$w" "$a" "$*" <<'PY'
import datetime, json, sys
q, e = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"model": sys.argv[3], "w": int(sys.argv[4]), "a": int(sys.argv[5]), "flags": sys.argv[6],
  "top1": e["top1"], "seconds": q["seconds"], "stages": {s["name"]: round(s["seconds"], 1) for s in q["stages"]},
  "bytes": q["bytes"], "float_bytes": q["float_bytes"], "selfcheck_agreement": q["self_check"]["top1_agreement"],
  "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")}))
PY
rm -rf "$(dirname "$out")"
