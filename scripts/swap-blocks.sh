#!/bin/sh
# Which blocks of a data-free QDQ model cost accuracy against a real-data one exported from the
# same float model (BENCHMARKS.md, mobilenetv2 W4A4): for each name prefix (a PyTorch module
# path such as features.3), the top-1 of REAL with that block's quantization from SYN, and of
# SYN with that block's from REAL, on the shared Fashion-MNIST test set.
#
#   scripts/swap-blocks.sh REAL.onnx SYN.onnx features.0 features.1 … classifier
set -eu
[ $# -ge 3 ] || { echo "usage: scripts/swap-blocks.sh REAL.onnx SYN.onnx PREFIX..." >&2; exit 2; }
real=$1 syn=$2
shift 2
S=${SHARED:-../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/swapquant" ./scripts/swapquant
go build -o "$tmp/sharpq" ./cmd/sharpq
top1() {
	"$tmp/sharpq" eval --model "$1" --data "$S/data/fmnist_test_u8.npy" --labels "$S/data/fmnist_test_labels.npy" \
		--mean 0.2860 --std 0.3530 --batch 250 --threads 1 --json | sed -n 's/.*"top1": *\([0-9.]*\).*/\1/p'
}
echo "prefix real_with_syn syn_with_real"
for p in "$@"; do
	re="^$(echo "$p" | sed 's/\./\\./g')\\.|/$(echo "$p" | sed 's/\./\\./g')/"
	"$tmp/swapquant" -into "$real" -from "$syn" -match "$re" -o "$tmp/a.onnx" >/dev/null
	"$tmp/swapquant" -into "$syn" -from "$real" -match "$re" -o "$tmp/b.onnx" >/dev/null
	echo "$p $(top1 "$tmp/a.onnx") $(top1 "$tmp/b.onnx")"
done
