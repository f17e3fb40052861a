#!/usr/bin/env bash
# Several `sharpq convert` runs side by side on one device, each under a time limit and each
# saving its progress in a work folder, so that a run the limit cuts short can be finished
# elsewhere (e.g. the GPU does the generation, this machine's CPU the rest) with the same
# flags plus `--work-dir OUT/NAME.work --resume`.
#
#   scripts/gpu-convert.sh BIN OUT LIMIT DEVICE 'NAME|MODEL|WBITS|ABITS|FLAGS' ...
#
# BIN holds sharpq; OUT receives gpu-convert.log (exit status and time of each run) and, per
# run, NAME.tar.xz.00, .01, … : one xz tar of NAME.onnx (when the run finished), NAME.json (its
# report), NAME.err (its log) and NAME.work/ (its checkpoints), cut into 15 MiB parts because a
# device call returns at most 8 files of 16 MiB (64 MiB in all). Unpack with
# `cat NAME.tar.xz.* | xz -dc | tar -xf -`. A mobilenetv2_fmnist run's generated images take
# about 19 MB packed per 256 images, so two or three runs of 256 fit. LIMIT is seconds per run; DEVICE is cuda or cpu (a dry run). SHARPQ_ORT_LIB names
# an ONNX Runtime build with the CUDA provider (../shared/gpu/device-setup.sh writes it).
# Small models leave a GPU mostly idle between kernel launches, so runs side by side add up
# to more work per second than one after another.
set -uo pipefail
bin=$1 out=$2 limit=$3 device=$4
shift 4
mkdir -p "$out"
log=$out/gpu-convert.log
{ date -u; nproc; nvidia-smi -L 2>/dev/null; } >>"$log"
for spec in "$@"; do
	IFS='|' read -r name model w a flags <<<"$spec"
	(
		t0=$SECONDS
		# shellcheck disable=SC2086 # flags is a list of flags
		timeout "$limit" "$bin/sharpq" convert "$model" -o "$out/$name.onnx" --device "$device" \
			--wbits "$w" --abits "$a" --work-dir "$out/$name.work" --json $flags \
			>"$out/$name.json" 2>"$out/$name.err"
		echo "$name rc=$? $((SECONDS - t0))s: $model W${w}A$a $flags" >>"$log"
	) &
done
wait
cd "$out" || exit 1
for spec in "$@"; do
	IFS='|' read -r name _ <<<"$spec"
	files=$(ls -d "$name".onnx "$name".json "$name".err "$name".work 2>/dev/null)
	# shellcheck disable=SC2086 # files is a list of names without spaces
	tar -cf - $files | xz -T0 -1 | split -b 15M -d - "$name.tar.xz." && rm -rf $files
done
cat gpu-convert.log
ls -l
