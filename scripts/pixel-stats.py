#!/usr/bin/python3
"""Pixel-value percentiles of a calibration set in the model's normalised input space, and the
share of pixels at or below black: synthetic images.npy as saved, or uint8 images (--u8,
normalised with Fashion-MNIST's mean 0.2860 and std 0.3530). A benchmark helper
(BENCHMARKS.md, mobilenetv2 W4A4), not part of sharpq.

usage: scripts/pixel-stats.py IMAGES.npy [--u8] [--first N]
"""
import argparse

import numpy as np

MEAN, STD = 0.2860, 0.3530
LO, HI = (0 - MEAN) / STD, (1 - MEAN) / STD

ap = argparse.ArgumentParser(usage=__doc__)
ap.add_argument("images")
ap.add_argument("--u8", action="store_true")
ap.add_argument("--first", type=int, default=0)
args = ap.parse_args()
a = np.load(args.images)
if args.first:
    a = a[: args.first]
if args.u8:
    a = (a.astype(np.float32) / 255 - MEAN) / STD
q = [0.1, 1, 5, 25, 50, 75, 95, 99, 99.9]
print(f"{len(a)} images; normalised range of a pixel [{LO:.3f}, {HI:.3f}]")
print(f"min {a.min():.3f}  max {a.max():.3f}  mean {a.mean():.3f}  std {a.std():.3f}")
print("percentiles " + "  ".join(f"{p}%: {v:.3f}" for p, v in zip(q, np.percentile(a, q))))
print(f"at or below black (+0.01): {100 * (a <= LO + 0.01).mean():.1f} %;  above 1.5: {100 * (a > 1.5).mean():.1f} %")
