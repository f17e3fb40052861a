#!/usr/bin/env bash
# How well `convert --estimate --resume` prices what a stopped run has left: converts MODEL
# (fast preset, W and A bits) with a work folder, stops it with SIGINT once refinement is saved,
# estimates what is left (text and --json), then resumes the run and times it. Prints the
# estimate's table, the estimate's total and the resumed run's stages and total (seconds).
# usage: scripts/resume-estimate.sh MODEL W A [OUTDIR]   (OUTDIR defaults to a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 w=$2 a=$3 out=${4:-$(mktemp -d)}
make -s ort build >/dev/null
mkdir -p "$out"
work=$out/work
rm -rf "$work"
args=("$model" --wbits "$w" --abits "$a" --work-dir "$work")
./bin/sharpq convert "${args[@]}" -o "$out/q.onnx" >/dev/null 2>"$out/first.err" &
pid=$!
until [ -f "$work/refine.gob" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "the run ended before refinement was saved" >&2; exit 1; }
  sleep 2
done
kill -INT "$pid"; wait "$pid" || true
./bin/sharpq convert "${args[@]}" --estimate --resume 2>/dev/null
./bin/sharpq convert "${args[@]}" --estimate --resume --json 2>/dev/null >"$out/estimate.json"
./bin/sharpq convert "${args[@]}" -o "$out/q.onnx" --resume --json 2>"$out/resumed.err" >"$out/resumed.json"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
e = json.load(open(d + "/estimate.json"))
r = json.load(open(d + "/resumed.json"))
print("estimate: %.1f s;" % e["seconds"], ", ".join("%s %.1f" % (s["name"], s["seconds"]) for s in e["stages"]))
print("resumed run: %.1f s;" % r["seconds"], ", ".join("%s %.1f" % (s["name"], s["seconds"]) for s in r["stages"]))
PY
