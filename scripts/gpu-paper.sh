#!/bin/bash
# Issue 5's GPU check: `sharpq convert --preset paper` of resnet20_fmnist W4A4 on CUDA, its
# generation batches side by side (--gen-parallel 8), cut at LIMIT seconds. The refined images
# land in $OUT/img (written before the reconstruction), the log, every line stamped with the
# seconds since the start, in $OUT/convert.err; the model and its report if it finishes; the
# work folder, xz-packed in 15 MiB parts ($OUT/work.tar.xz.00, …), for another machine to
# finish the run with the same flags plus `--work-dir DIR --resume` (after refinement the
# folder holds images, not generators: about 17 MB for the preset's 1024 images).
#
#   scripts/gpu-paper.sh DIR
#
# DIR holds sharpq.xz (a linux/amd64 build, xz-compressed, `-ldflags "-s -w"` keeps it small
# enough to travel beside the CUDA provider's last part), test_u8.npy.xz (../shared/data's
# fmnist_test_u8.npy, xz-compressed) and fmnist_test_labels.npy. Run it in the repository root
# after `source /tmp/ortgpu/env.sh` (../shared/gpu). Env: OUT (results), LIMIT (seconds, 500),
# DEVICE (cuda; cpu for a dry run), EXTRA (more flags, e.g. a tiny schedule for the dry run).
set -u
m=$1 w=/tmp/sharpq-gpu
mkdir -p $w || exit 1
xz -dc $m/sharpq.xz > $w/sharpq && chmod +x $w/sharpq || exit 1
xz -dc $m/test_u8.npy.xz > $w/test_u8.npy || exit 1
{ date -u; nproc; nvidia-smi -L 2>/dev/null; $w/sharpq --version; } > $OUT/gpu.txt
stamp() { # prefix each line with the seconds since the script started
	local l
	while IFS= read -r l; do printf '%5ds %s\n' "$SECONDS" "$l"; done
}
run() { # run PARALLEL LIMIT
	local t0=$SECONDS
	# shellcheck disable=SC2086
	timeout "$2" $w/sharpq convert testmodels/resnet20_fmnist.onnx -o $OUT/r20_w4a4_paper.onnx \
		--device "${DEVICE:-cuda}" --preset paper --wbits 4 --abits 4 --gen-parallel "$1" \
		--save-images $OUT/img --work-dir $w/work --eval-data $w/test_u8.npy --eval-labels $m/fmnist_test_labels.npy \
		--mean 0.2860 --std 0.3530 --json ${EXTRA:-} > $OUT/convert.json 2> >(stamp > $OUT/convert.err)
	local rc=$?
	sleep 1 # let stamp finish the log
	echo "convert --gen-parallel $1: rc=$rc $((SECONDS - t0))s" | tee -a $OUT/gpu.txt
	return $rc
}
run 8 "${LIMIT:-500}"
rc=$?
# A start that fails at once (e.g. side-by-side CUDA sessions refused) gets one serial try.
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $SECONDS -lt 90 ]; then
	cp $OUT/convert.err $OUT/convert-parallel.err
	run 1 $(( ${LIMIT:-500} - SECONDS ))
fi
(cd $w && tar -cf - work | xz -T0 -1 | split -b 15M -d - $OUT/work.tar.xz.)
grep -v '"progress"' $OUT/convert.err | grep -v 'msg=progress' | tail -40
ls -l $OUT $OUT/img 2>/dev/null
