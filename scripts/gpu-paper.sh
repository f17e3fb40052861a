#!/bin/bash
# Issue 5's GPU check: `sharpq convert --preset paper` of resnet20_fmnist W4A4 on CUDA, its
# generation batches side by side (--gen-parallel 8). The preset (≈ 28 minutes on an H100 or
# H200) outlasts one device command (10 minutes), so the run can span calls:
#
#   scripts/gpu-paper.sh start DIR      unpack sharpq, start the convert in its own session
#                                       (setsid: it outlives the call) and return
#   scripts/gpu-paper.sh wait WAIT      wait up to WAIT seconds for it to end, leaving it running
#                                       (the next call, within the machine's 30 s of warmth,
#                                       carries on), and show where it is
#   scripts/gpu-paper.sh collect WAIT   wait up to WAIT seconds for it to end, else interrupt
#                                       it (it exits 130 with its progress saved), and put the
#                                       results into $OUT
#   scripts/gpu-paper.sh run DIR        both in one call, WAIT = LIMIT
#
# Results in $OUT: gpu.txt (machine, exit status, seconds), convert.err (the log, each line
# stamped with the seconds since the start), img/ (the refined images, written before the
# reconstruction), the model and convert.json if it finished, and the work folder xz-packed in
# 15 MiB parts (work.tar.xz.00, …; unpack with `cat work.tar.xz.* | xz -dc | tar -xf -`): after
# refinement it holds images, not generators (about 17 MB), so another machine finishes the
# run with the same flags plus `--work-dir work --resume` (checkpoints do not depend on the
# device; every reconstructed block is kept).
#
# The 15-minute lease of 2026-11-28 ran it as four device calls back to back (../shared/gpu's
# set-up first), then finished here:
#   run carry [.gpu/p1]           bash .gpu/p1/device-setup.sh .gpu/p1
#   run carry [.gpu/p2]           bash .gpu/p2/device-setup.sh .gpu/p2
#   run carry [.gpu/p3, .gpu/m]   bash .gpu/p3/device-setup.sh .gpu/p3 && source /tmp/ortgpu/env.sh &&
#                                 scripts/gpu-paper.sh start .gpu/m && scripts/gpu-paper.sh wait 570
#   run                           scripts/gpu-paper.sh collect 200
#   here: cat work.tar.xz.* | xz -dc | tar -xf - && sharpq convert testmodels/resnet20_fmnist.onnx \
#         -o M --device cpu --preset paper --wbits 4 --abits 4 --gen-parallel 8 --work-dir work --resume
# That lease was spent before this machine had finished (about 56 minutes at 2 threads), so the
# model's top-1 in ORT's CUDA provider is still to measure: a lease that runs this again should
# keep about 2 minutes for a fresh machine once the model is finished here: the p1 and p2
# set-up calls above, then
#   run carry [.gpu/p3, .gpu/m]   bash .gpu/p3/device-setup.sh .gpu/p3 && source /tmp/ortgpu/env.sh &&
#                                 scripts/gpu-paper.sh eval .gpu/m
# with the model copied into .gpu/m as M (it is ignored by git, and a new checkout does not
# keep it); `eval` also measures it with the CPU provider on the same machine.
#
# A 15-minute lease cannot both run the GPU stages through refinement (≈ 12 minutes with the
# set-up) and leave the 4 minutes a second machine needs for the CUDA evaluation. The plan for
# one lease of 900 s: the GPU does generation and warm-up only, this machine refinement and
# reconstruction (≈ 2 hours at 2 threads), a second machine the evaluation:
#   run carry [.gpu/p1]           bash .gpu/p1/device-setup.sh .gpu/p1
#   run carry [.gpu/p2]           bash .gpu/p2/device-setup.sh .gpu/p2
#   run carry [.gpu/p3, .gpu/m]   bash .gpu/p3/device-setup.sh .gpu/p3 && source /tmp/ortgpu/env.sh &&
#                                 scripts/gpu-paper.sh start .gpu/m && scripts/gpu-paper.sh early 500
#   run (at once)                 scripts/gpu-paper.sh rest
#   give_back                     (≈ 620 s spent: 41 s start, ≈ 50 s set-up, 500 s of the run:
#                                 generation 276 s, warm-up 196 s, the first refined batch)
#   here: cat work.tar.xz.* | xz -dc | tar -xf - && sharpq convert testmodels/resnet20_fmnist.onnx \
#         -o M --device cpu --preset paper --wbits 4 --abits 4 --gen-parallel 8 --work-dir work \
#         --resume --threads 2 --eval-data … (the generators travel in the folder, so refinement
#         resumes from them; a CPU dry run of these modes with DEVICE=cpu and a tiny EXTRA, then
#         the resume, went through on 2026-12-04)
#   then the evaluation calls above (p1, p2, p3 + `eval .gpu/m`) on a second machine, ≈ 150 s.
# The lease of 2026-12-04 ran exactly this with `early 480` (565 s on the first machine, 65 s
# on the second: 630 s; this machine's part took 2 h 4 min): top-1 93.69 on CUDA and on CPU.
#
# DIR holds sharpq.xz (a linux/amd64 build, xz-compressed: `go build -ldflags "-s -w -X
# main.version=$(git describe --tags --always --dirty)" -o /tmp/sq ./cmd/sharpq && xz -c /tmp/sq
# >.gpu/m/sharpq.xz`; "-s -w" keeps it small enough to travel beside the CUDA provider's last
# part, -X names the commit in the log and the model), test_u8.npy.xz (../shared/data's
# fmnist_test_u8.npy, xz-compressed) and fmnist_test_labels.npy. Run it in the repository root
# after `source /tmp/ortgpu/env.sh` (../shared/gpu). Env: LIMIT (seconds for `run`, 500),
# DEVICE (cuda; cpu for a dry run), EXTRA (more flags, e.g. a tiny schedule for the dry run).
set -u
w=/tmp/sharpq-gpu
stamp() { # prefix each line with the seconds since the run started
	local l t0
	t0=$(cat $w/t0)
	while IFS= read -r l; do printf '%5ds %s\n' "$(($(date +%s) - t0))" "$l"; done
}
convert() { # convert PARALLEL: the run itself, in the background session
	local t0=$SECONDS m
	m=$(cat $w/dir)
	# shellcheck disable=SC2086 # EXTRA is a list of flags
	$w/sharpq convert testmodels/resnet20_fmnist.onnx -o $w/out/r20_w4a4_paper.onnx \
		--device "${DEVICE:-cuda}" --preset paper --wbits 4 --abits 4 --gen-parallel "$1" \
		--save-images $w/out/img --work-dir $w/work --eval-data $w/test_u8.npy --eval-labels "$m"/fmnist_test_labels.npy \
		--mean 0.2860 --std 0.3530 --json ${EXTRA:-} >$w/out/convert.json 2> >(stamp >>$w/out/convert.err)
	local rc=$?
	echo "convert --gen-parallel $1: rc=$rc $((SECONDS - t0))s" >>$w/out/gpu.txt
	return $rc
}
case ${1:-} in
start | run)
	m=$(cd "$2" && pwd) || exit 1
	rm -rf $w && mkdir -p $w/out || exit 1
	xz -dc "$m"/sharpq.xz >$w/sharpq && chmod +x $w/sharpq || exit 1
	xz -dc "$m"/test_u8.npy.xz >$w/test_u8.npy || exit 1
	echo "$m" >$w/dir
	date +%s >$w/t0
	{ date -u; nproc; nvidia-smi -L 2>/dev/null; $w/sharpq --version; } >$w/out/gpu.txt
	setsid "$0" _convert </dev/null >/dev/null 2>&1 &
	echo $! >$w/pid
	echo "started: pid $(cat $w/pid)"
	[ "$1" = start ] && exit 0
	set -- collect "${LIMIT:-500}"
	;;
esac
case $1 in
_convert)
	convert 8
	rc=$?
	# A start that fails at once (e.g. side-by-side CUDA sessions refused) gets one serial try.
	if [ $rc -ne 0 ] && [ $rc -ne 130 ] && [ $SECONDS -lt 90 ]; then
		cp $w/out/convert.err $w/out/convert-parallel.err
		convert 1
	fi
	;;
wait)
	pid=$(cat $w/pid) || exit 1
	end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 2; done
	grep -v 'msg=progress' $w/out/convert.err | tail -15
	grep 'msg=progress' $w/out/convert.err | tail -2
	;;
collect)
	pid=$(cat $w/pid) || exit 1
	end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 2; done
	if kill -0 "$pid" 2>/dev/null; then
		pkill -INT -f "$w/sharpq convert" # saves nothing new: every finished block is kept already
		while kill -0 "$pid" 2>/dev/null; do sleep 1; done
	fi
	sleep 1 # let stamp finish the log
	cp -r $w/out/. "$OUT"/
	(cd $w && tar -cf - work | xz -T0 -1 | split -b 15M -d - "$OUT"/work.tar.xz.)
	grep -v 'msg=progress' "$OUT"/convert.err | tail -40
	cat "$OUT"/gpu.txt
	ls -l "$OUT"
	;;
early)
	# Stop the run WAIT seconds after `start` wherever it is (every generated batch, warm-up
	# block and refined batch is kept), so the rest runs elsewhere and the lease keeps time for
	# a second machine. Until refinement ends the work folder holds the eight generators
	# (≈ 70 MB packed), more than one call returns: $OUT gets parts 00–03 and `rest` gives the
	# others in the next call.
	pid=$(cat $w/pid) || exit 1
	end=$(($(cat $w/t0) + $2))
	while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt $end ]; do sleep 1; done
	pkill -INT -f "$w/sharpq convert"
	while kill -0 "$pid" 2>/dev/null; do sleep 1; done
	sleep 1
	mkdir -p $w/parts
	(cd $w && tar -cf - work | xz -T0 -0 | split -b 15M -d - $w/parts/work.tar.xz.)
	cp $w/out/convert.err $w/out/gpu.txt "$OUT"/
	for f in $w/parts/work.tar.xz.0[0-3]; do cp "$f" "$OUT"/; done
	grep -v 'msg=progress' "$OUT"/convert.err | tail -25
	cat "$OUT"/gpu.txt
	ls -l $w/parts
	;;
eval)
	# eval DIR: the finished model DIR/M (copied there from this machine) on the 10000 test
	# images, with ORT's CUDA provider and, beside it on the same machine, its CPU provider.
	m=$(cd "$2" && pwd) || exit 1
	mkdir -p $w || exit 1
	xz -dc "$m"/sharpq.xz >$w/sharpq && chmod +x $w/sharpq || exit 1
	xz -dc "$m"/test_u8.npy.xz >$w/test_u8.npy || exit 1
	{ date -u; nvidia-smi -L 2>/dev/null; $w/sharpq --version; } >"$OUT"/eval.txt
	for dev in cuda cpu; do
		t0=$SECONDS
		$w/sharpq eval --model "$m"/M --device $dev --data $w/test_u8.npy --labels "$m"/fmnist_test_labels.npy \
			--mean 0.2860 --std 0.3530 --json >"$OUT"/eval-$dev.json 2>>"$OUT"/eval.txt
		echo "eval --device $dev: rc=$? $((SECONDS - t0))s" >>"$OUT"/eval.txt
	done
	cat "$OUT"/eval.txt "$OUT"/eval-*.json
	;;
rest)
	for f in $w/parts/work.tar.xz.*; do
		n=${f##*.}
		[ "$((10#$n))" -ge 4 ] && cp "$f" "$OUT"/
	done
	ls -l "$OUT"
	;;
*)
	echo "usage: $0 start DIR | wait WAIT | collect WAIT | run DIR | early WAIT | rest | eval DIR" >&2
	exit 2
	;;
esac
