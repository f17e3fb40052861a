"""PyTorch CPU timings of torchvision resnet18 and mobilenet_v2 at 3x224x224, for the side-by-side
with the engine's BenchmarkImageNetModel (scripts/bench-engine-imagenet.sh).
usage: /usr/bin/python3 scripts/torch-imagenet-bench.py [--threads 2] [--batch 16]
Prints one JSON object: median seconds per step of
  forward : inference forward (BatchNormalization with running statistics)
  fwd_bwd : forward + gradients w.r.t. the input and every weight, loss 0.5*sum(logits^2)/N"""
import argparse, json, time
import torch, torchvision


def median(f, n=7):
    f(); ts = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return sorted(ts)[n // 2]


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--threads", type=int, default=2); ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0)
    res = {"torch": torch.__version__, "threads": a.threads, "batch": a.batch}
    for arch, fn in [("resnet18", torchvision.models.resnet18), ("mobilenet_v2", torchvision.models.mobilenet_v2)]:
        m = fn(weights=None).eval(); x = torch.randn(a.batch, 3, 224, 224)

        def fwd():
            with torch.no_grad():
                m(x)

        def fb():
            xi = x.clone().requires_grad_(True); y = m(xi)
            torch.autograd.grad(0.5 * (y ** 2).sum() / len(y), [xi] + list(m.parameters()))
        res[arch] = {"forward": median(fwd), "fwd_bwd": median(fb)}
    print(json.dumps(res))


main()
