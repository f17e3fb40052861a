#!/usr/bin/env bash
# Data-free conversion of a shared model (sharpq convert: no real image is read), then
# evaluation of the QDQ model in ONNX Runtime on the 10000 Fashion-MNIST test images.
# usage: scripts/convert-eval.sh MODEL WBITS ABITS [extra sharpq convert flags, e.g. --method genie]
# prints one JSON line: model, bits, flags, top-1, seconds, per-stage seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
model=$1 w=$2 a=$3; shift 3
make -s ort build >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$dir/${model}_w${w}a${a}.onnx
./bin/sharpq convert "$shared/models/$model.onnx" -o "$out" --wbits "$w" --abits "$a" --json "$@" >"$dir/report.json"
e=$(./bin/sharpq eval --model "$out" --data "$shared/data/fmnist_test_u8.npy" --labels "$shared/data/fmnist_test_labels.npy" \
    --mean 0.2860 --std 0.3530 --batch 250 --json)
/usr/bin/python3 - "$dir/report.json" "$e" "$model" "$w" "$a" "$*" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); e = json.loads(sys.argv[2])
print(json.dumps({"model": sys.argv[3], "w": int(sys.argv[4]), "a": int(sys.argv[5]), "flags": sys.argv[6],
  "method": r["method"], "preset": r["preset"], "images": r["images"], "top1": e["top1"],
  "seconds": round(r["seconds"], 1), "stages": {s["name"]: round(s["seconds"], 1) for s in r["stages"]},
  "refinement": [{k: round(b[k], 5) for k in ("loss_first", "loss_last", "gm_last", "div_last", "image_change", "direction_cosine")}
                 for b in r.get("refinement") or []],
  "self_check": r["self_check"]}))
PY
