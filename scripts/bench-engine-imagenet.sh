#!/usr/bin/env bash
# Side-by-side speed of the engine against PyTorch at ImageNet size on this machine: forward and
# forward+backward of torchvision resnet18 and mobilenet_v2 at 3×224×224, batch 16 (what
# `--gen-batch 16` runs), 2 threads: our autodiff graphs in ONNX Runtime (BenchmarkImageNetModel
# on ../shared/models/imagenet_arch) against scripts/torch-imagenet-bench.py.
# Prints a Markdown table of mean/median seconds and the ratio ours/PyTorch (≤ 1.0 = faster).
# Needs Debian's python3-torch and python3-torchvision (/usr/bin/python3). Run on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s ort >/dev/null
export SHARPQ_ORT_LIB=$PWD/.ort/libonnxruntime.so.1 SHARPQ_REQUIRE_ORT=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/ad.test" ./internal/autodiff
: >"$tmp/ad.txt"; : >"$tmp/mem.txt"
for b in resnet18/forward resnet18/forward+backward mobilenet_v2/forward mobilenet_v2/forward+backward; do
  (cd internal/autodiff && /usr/bin/time -f "$b %M" -a -o "$tmp/mem.txt" \
    "$tmp/ad.test" -test.run '^$' -test.bench "^BenchmarkImageNetModel/${b//+/\\+}\$" -test.benchtime 5x) >>"$tmp/ad.txt"
done
/usr/bin/time -f "torch %M" -a -o "$tmp/mem.txt" /usr/bin/python3 scripts/torch-imagenet-bench.py --threads 2 --batch 16 >"$tmp/torch.json"
/usr/bin/python3 - "$tmp/ad.txt" "$tmp/torch.json" "$tmp/mem.txt" <<'PY'
import json, re, sys
ours, mem = {}, {}
for line in open(sys.argv[3]):
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        mem[parts[0]] = int(parts[1]) / 1024
for line in open(sys.argv[1]):
    m = re.match(r'BenchmarkImageNetModel/(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op', line)
    if m:
        ours[m.group(1)] = float(m.group(2)) / 1e9
torch = json.load(open(sys.argv[2]))
print(f"PyTorch {torch['torch']}, {torch['threads']} threads, batch {torch['batch']}")
print("| model | step | sharpq (s) | PyTorch (s) | ratio | sharpq peak RSS (MiB) |")
print("| --- | --- | --- | --- | --- | --- |")
for arch in ["resnet18", "mobilenet_v2"]:
    for key, bench in [("forward", "forward"), ("fwd_bwd", "forward+backward")]:
        b = f"{arch}/{bench}"
        if b in ours:
            o, t = ours[b], torch[arch][key]
            print(f"| {arch} | {key} | {o:.3f} | {t:.3f} | {o/t:.2f} | {mem.get(b, 0):.0f} |")
print(f"PyTorch process peak RSS (all steps): {mem.get('torch', 0):.0f} MiB")
PY
