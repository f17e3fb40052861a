#!/usr/bin/env bash
# Side-by-side speed of the engine against PyTorch on this machine, batch 128, 2 threads:
# forward and forward+backward of resnet20_fmnist and mobilenetv2_fmnist (our autodiff graphs in
# ONNX Runtime vs ../shared/bench/torch_reference.py), and one GENIE synthesis step.
# Prints a Markdown table of median/mean seconds and the ratio ours/PyTorch (≤ 1.0 = faster).
# Needs Debian's python3-torch (/usr/bin/python3). Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
make -s ort >/dev/null
export SHARPQ_ORT_LIB=$PWD/.ort/libonnxruntime.so.1 SHARPQ_REQUIRE_ORT=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Each benchmark runs in its own process under /usr/bin/time for its peak resident memory.
go test -c -o "$tmp/ad.test" ./internal/autodiff
: >"$tmp/ad.txt"; : >"$tmp/mem.txt"
for b in resnet20_fmnist/forward resnet20_fmnist/forward+backward mobilenetv2_fmnist/forward mobilenetv2_fmnist/forward+backward; do
  (cd internal/autodiff && /usr/bin/time -f "Model/$b %M" -a -o "$tmp/mem.txt" \
    "$tmp/ad.test" -test.run '^$' -test.bench "^BenchmarkModel/${b//+/\\+}\$" -test.benchtime 7x) >>"$tmp/ad.txt"
done
genie=""
if grep -q 'func BenchmarkGenieStep' generator/*_test.go 2>/dev/null; then
  go test -c -o "$tmp/gen.test" ./generator
  for b in resnet20_fmnist mobilenetv2_fmnist; do
    (cd generator && /usr/bin/time -f "GenieStep/$b/noswing %M" -a -o "$tmp/mem.txt" \
      "$tmp/gen.test" -test.run '^$' -test.bench "^BenchmarkGenieStep/$b/noswing\$" -test.benchtime 7x) >>"$tmp/ad.txt"
  done
  genie=yes
fi
/usr/bin/time -f "torch %M" -a -o "$tmp/mem.txt" /usr/bin/python3 "$shared/bench/torch_reference.py" --threads 2 --batch 128 >"$tmp/torch.json"
/usr/bin/python3 - "$tmp/ad.txt" "$tmp/torch.json" "$tmp/mem.txt" <<'PY'
import json, re, sys
ours = {}
mem = {}
for line in open(sys.argv[3]):
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        mem[parts[0]] = int(parts[1]) / 1024
for path in [sys.argv[1]]:
    for line in open(path):
        m = re.match(r'Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op', line)
        if m:
            ours[m.group(1)] = float(m.group(2)) / 1e9
torch = json.load(open(sys.argv[2]))
rows = [("resnet20", "forward", "Model/resnet20_fmnist/forward"),
        ("resnet20", "fwd_bwd", "Model/resnet20_fmnist/forward+backward"),
        ("mobilenetv2", "forward", "Model/mobilenetv2_fmnist/forward"),
        ("mobilenetv2", "fwd_bwd", "Model/mobilenetv2_fmnist/forward+backward"),
        ("resnet20", "genie_step", "GenieStep/resnet20_fmnist/noswing"),
        ("mobilenetv2", "genie_step", "GenieStep/mobilenetv2_fmnist/noswing")]
print(f"PyTorch {torch['torch']}, {torch['threads']} threads, batch {torch['batch']}")
print("| model | step | sharpq (s) | PyTorch (s) | ratio | sharpq peak RSS (MiB) |")
print("| --- | --- | --- | --- | --- | --- |")
for arch, key, bench in rows:
    if bench in ours:
        o, t = ours[bench], torch[arch][key]
        print(f"| {arch} | {key} | {o:.3f} | {t:.3f} | {o/t:.2f} | {mem.get(bench, 0):.0f} |")
print(f"PyTorch process peak RSS (all steps of both models): {mem.get('torch', 0):.0f} MiB")
PY
