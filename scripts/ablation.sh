#!/usr/bin/env bash
# The ablation of issue 5: SADAG vs GENIE images vs real calibration images, for each model,
# seed and bit setting, with the fast preset, every model evaluated in ONNX Runtime on the
# 10000 test images.
#
# usage: scripts/ablation.sh RESULTS.jsonl [extra flags for every run, e.g. --threads 1]
#   MODELS="resnet20_fmnist resnet18w16_fmnist mobilenetv2_fmnist" SEEDS="0 1" BITS="2/4 2/2"
#   scripts/ablation.sh --table RESULTS.jsonl   prints the markdown table of what is there
#
# Runs already in RESULTS.jsonl (same model, bits, method and seed) are skipped, so an
# interrupted ablation continues where it stopped. About 10 hours on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--table" ]; then
    /usr/bin/python3 - "$2" <<'PY'
import json, sys, collections
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cell = collections.defaultdict(list)
for r in runs:
    cell[(r["model"], f'W{r["w"]}A{r["a"]}', r["method"])].append((r["seed"], r["top1"]))
print("| model | bits | sadag | genie | real data | sadag − genie |")
print("| --- | --- | --- | --- | --- | --- |")
for (model, bits) in sorted({(k[0], k[1]) for k in cell}):
    def fmt(m):
        v = sorted(cell.get((model, bits, m), []))
        if not v:
            return "–", None
        mean = sum(t for _, t in v) / len(v)
        return f'{mean:.2f} ({", ".join(f"s{s}: {t:.2f}" for s, t in v)})', mean
    s, sm = fmt("sadag"); g, gm = fmt("genie"); r, _ = fmt("real")
    d = f"{sm - gm:+.2f}" if sm is not None and gm is not None else "–"
    print(f"| {model} | {bits} | {s} | {g} | {r} | {d} |")
PY
    exit 0
fi
results=$1; shift
touch "$results"
for model in ${MODELS:-resnet20_fmnist resnet18w16_fmnist mobilenetv2_fmnist}; do
    for seed in ${SEEDS:-0 1}; do
        for wa in ${BITS:-2/4 2/2}; do
            w=${wa%/*} a=${wa#*/}
            for method in sadag genie real; do
                done_already=$(/usr/bin/python3 - "$results" "$model" "$w" "$a" "$method" "$seed" <<'PY'
import json, sys
f, m, w, a, meth, seed = sys.argv[1:]
print(any(r["model"] == m and r["w"] == int(w) and r["a"] == int(a) and r["method"] == meth and r["seed"] == int(seed)
          for r in (json.loads(l) for l in open(f) if l.strip())))
PY
)
                if [ "$done_already" = True ]; then continue; fi
                echo "$(date +%T) $model W${w}A${a} $method seed $seed" >&2
                if [ "$method" = real ]; then
                    line=$(scripts/quantize-real.sh "$model" "$w" "$a" --seed "$seed" "$@")
                else
                    line=$(scripts/convert-eval.sh "$model" "$w" "$a" --method "$method" --seed "$seed" "$@")
                fi
                echo "$line" | /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["method"]=sys.argv[1]; r["seed"]=int(sys.argv[2]); print(json.dumps(r))' "$method" "$seed" >>"$results"
            done
        done
    done
done
scripts/ablation.sh --table "$results"
