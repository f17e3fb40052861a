#!/usr/bin/env bash
# Which QDQ exports an older ONNX Runtime loads: fetches onnxruntime-node@VERSION (npm) into a
# temporary folder and evaluates each MODEL on the 10000 Fashion-MNIST test images with it
# (scripts/ort-node-eval.mjs), printing the top-1 or the runtime's refusal. A check script;
# sharpq itself never uses Node.
# usage: scripts/old-ort-check.sh VERSION MODEL.onnx...   (e.g. 1.16.3 Q13.onnx Q21.onnx)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
version=$1; shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm install --no-save --ignore-scripts --silent "onnxruntime-node@$version" >/dev/null)
cp scripts/ort-node-eval.mjs "$dir/"
for m in "$@"; do
  ORTV=$version node "$dir/ort-node-eval.mjs" "$(realpath "$m")" "$(realpath "$shared/data/fmnist_test_u8.npy")" \
    "$(realpath "$shared/data/fmnist_test_labels.npy")" 0.2860 0.3530 || true
done
