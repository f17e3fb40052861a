#!/usr/bin/python3
"""Widen a saved synthetic set for `sharpq quantize --calib-data`: the images and their
horizontal mirrors, then, each with its own random generator seeded SEED:
  SHIFTS rounds of a random ±2 px shift of each (not 0, 0), padded with a black Fashion-MNIST
    pixel's normalised value as training's pad-2 crops were;
  --mixup K: K convex mixtures l·a + (1 − l)·b of random pairs, l uniform in [0, 1];
  --contrast A,B --rounds R: R copies of the set, each image's contrast about black scaled by a
    factor uniform in [A, B], clipped to the normalised pixel range [(0 − mean)/std, (1 − mean)/std];
  --cutmix K: K copies of random images a, each with a random rectangle of another image b
    pasted in (CutMix: the rectangle covers a fraction uniform in [0, 1] of the image, at a
    random centre, clipped to the borders);
  --blur A,B: a copy of the set, each image blurred by a Gaussian of standard deviation uniform
    in [A, B] pixels (edges replicated), softening the synthetic images' hard two-valued edges.
A benchmark helper (BENCHMARKS.md, mobilenetv2 W4A4), not part of sharpq.

usage: scripts/augment-calib.py IMAGES.npy OUT.npy SHIFTS SEED [--mixup K] [--contrast A,B [--rounds R]] [--cutmix K] [--blur A,B]
"""
import argparse

import numpy as np

MEAN, STD = 0.2860, 0.3530
LO, HI = (0 - MEAN) / STD, (1 - MEAN) / STD

ap = argparse.ArgumentParser(usage=__doc__)
ap.add_argument("src")
ap.add_argument("dst")
ap.add_argument("shifts", type=int)
ap.add_argument("seed", type=int)
ap.add_argument("--mixup", type=int, default=0)
ap.add_argument("--contrast", default="")
ap.add_argument("--rounds", type=int, default=1)
ap.add_argument("--blur", default="")
ap.add_argument("--cutmix", type=int, default=0)
args = ap.parse_args()

a = np.load(args.src)
a = np.concatenate([a, a[..., ::-1]])
n, c, h, w = a.shape
out = [a]
rng = np.random.default_rng(args.seed)
for _ in range(args.shifts):
    p = np.pad(a, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=LO)
    b = np.empty_like(a)
    for i in range(n):
        dy = dx = 0
        while dy == 0 and dx == 0:
            dy, dx = rng.integers(-2, 3, 2)
        b[i] = p[i, :, 2 + dy:2 + dy + h, 2 + dx:2 + dx + w]
    out.append(b)
if args.mixup:
    rng = np.random.default_rng(args.seed)
    i, j = rng.integers(0, n, args.mixup), rng.integers(0, n, args.mixup)
    lam = rng.uniform(0, 1, args.mixup).astype(np.float32)[:, None, None, None]
    out.append(lam * a[i] + (1 - lam) * a[j])
if args.contrast:
    lo, hi = (float(v) for v in args.contrast.split(","))
    rng = np.random.default_rng(args.seed)
    for _ in range(args.rounds):
        f = rng.uniform(lo, hi, n).astype(np.float32)[:, None, None, None]
        out.append(np.clip(LO + f * (a - LO), LO, HI))
if args.cutmix:
    rng = np.random.default_rng(args.seed + 1)
    i, j = rng.integers(0, n, args.cutmix), rng.integers(0, n, args.cutmix)
    b = a[i].copy()
    for k in range(args.cutmix):
        r = np.sqrt(rng.uniform(0, 1))
        bh, bw = int(round(h * r)), int(round(w * r))
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        y0, y1 = max(cy - bh // 2, 0), min(cy + bh - bh // 2, h)
        x0, x1 = max(cx - bw // 2, 0), min(cx + bw - bw // 2, w)
        b[k, :, y0:y1, x0:x1] = a[j[k], :, y0:y1, x0:x1]
    out.append(b)
if args.blur:
    lo, hi = (float(v) for v in args.blur.split(","))
    rng = np.random.default_rng(args.seed)
    b = np.empty_like(a)
    for i in range(n):
        sigma = rng.uniform(lo, hi)
        r = int(np.ceil(3 * sigma))
        k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
        k /= k.sum()
        p = np.pad(a[i], ((0, 0), (r, r), (r, r)), mode="edge")
        rows = sum(k[j] * p[:, j:j + h, :] for j in range(2 * r + 1))
        b[i] = sum(k[j] * rows[:, :, j:j + w] for j in range(2 * r + 1))
    out.append(b)
o = np.ascontiguousarray(np.concatenate(out).astype(np.float32))
np.save(args.dst, o)
print(o.shape)
