#!/usr/bin/env bash
# The GPU check of issue 5, for a short lease of a CUDA machine, in two parts:
#
#   scripts/gpu-check.sh convert BIN DATA OUT [DEVICE]
#     the float model's top-1 in ONNX Runtime's CUDA provider, a data-free
#     `sharpq convert --device cuda` of resnet20_fmnist (per-stage times in its JSON report), and
#     the exported QDQ model's top-1 from the CUDA and the CPU provider;
#   scripts/gpu-check.sh estimate BIN OUT [DEVICE] MODEL[:BATCH]...
#     the per-step cost of every convert stage on the device (scripts/estimate), from which the
#     fast and paper presets' times are extrapolated.
#
# BIN holds sharpq (and estimate) built for linux/amd64; DATA holds fmnist_test_u8.npy and
# fmnist_test_labels.npy (../shared/data); OUT receives the results; DEVICE is cuda (default) or
# cpu for a dry run. SHARPQ_ORT_LIB names an ONNX Runtime build with the CUDA provider
# (../shared/gpu/device-setup.sh writes it). Environment for convert: PRESET (fast), W and A
# (4 4), CONVERT_LIMIT seconds (330), CONVERT_FLAGS (extra flags, e.g. a short schedule).
# Each step runs under its own time limit and writes its output when it ends, so one that runs
# out of time leaves the earlier results intact. Output: one NAME.out per step, gpu-check.log
# (exit status and time of each step), stderr.log (everything the steps logged).
set -uo pipefail
mode=$1 bin=$2
log= out=
step() { # step NAME LIMIT CMD...: run CMD under LIMIT seconds
	local name=$1 limit=$2; shift 2
	local t0=$SECONDS
	echo "== $name: $*" >>"$out/stderr.log"
	timeout "$limit" "$@" >"$out/$name.out" 2>>"$out/stderr.log"
	local rc=$?
	echo "$name rc=$rc $((SECONDS - t0))s (at ${SECONDS}s)" | tee -a "$log"
	return $rc
}
start() {
	out=$1 log=$1/gpu-check.log
	mkdir -p "$out"
	{ date -u; uname -m; nproc; nvidia-smi -L 2>/dev/null; } >>"$log"
}
case $mode in
convert)
	data=$3 device=${5:-cuda}
	start "$4"
	model=testmodels/resnet20_fmnist.onnx
	q=$out/resnet20_w${W:-4}a${A:-4}.onnx
	ev=(--data "$data/fmnist_test_u8.npy" --labels "$data/fmnist_test_labels.npy" --mean 0.2860 --std 0.3530 --batch 250 --json)
	step eval-float 60 "$bin/sharpq" eval --device "$device" --model "$model" "${ev[@]}"
	# shellcheck disable=SC2086 # CONVERT_FLAGS is a list of flags
	step convert "${CONVERT_LIMIT:-330}" "$bin/sharpq" convert "$model" -o "$q" --device "$device" \
		--preset "${PRESET:-fast}" --wbits "${W:-4}" --abits "${A:-4}" --json ${CONVERT_FLAGS:-}
	if [ -f "$q" ]; then
		step eval-quant 60 "$bin/sharpq" eval --device "$device" --model "$q" "${ev[@]}"
		step eval-quant-cpu 90 "$bin/sharpq" eval --device cpu --model "$q" "${ev[@]}"
	fi
	;;
estimate)
	device=${4:-cuda}
	start "$3"
	shift 4
	for spec in "$@"; do
		m=${spec%%:*} b=128
		[ "$m" != "$spec" ] && b=${spec#*:}
		step "estimate-$(basename "$m" .onnx)" "${ESTIMATE_LIMIT:-150}" "$bin/estimate" -device "$device" -model "$m" -batch "$b" -steps 3
	done
	;;
*)
	echo "usage: $0 convert BIN DATA OUT [DEVICE] | estimate BIN OUT DEVICE MODEL[:BATCH]..." >&2
	exit 2
	;;
esac
echo "done at ${SECONDS}s" | tee -a "$log"
