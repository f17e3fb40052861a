#!/usr/bin/python3
"""Widen a saved synthetic set for `sharpq quantize --calib-data`: the images, their horizontal
mirrors, then SHIFTS rounds of a random ±2 px shift of each (not 0, 0), padded with a black
Fashion-MNIST pixel's normalised value as training's pad-2 crops were. A benchmark helper
(BENCHMARKS.md, mobilenetv2 W4A4), not part of sharpq.

usage: scripts/augment-calib.py IMAGES.npy OUT.npy SHIFTS SEED
"""
import sys

import numpy as np

src, dst, shifts, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pad = (0 - 0.2860) / 0.3530
a = np.load(src)
a = np.concatenate([a, a[..., ::-1]])
rng = np.random.default_rng(seed)
n, c, h, w = a.shape
out = [a]
for _ in range(shifts):
    p = np.pad(a, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=pad)
    b = np.empty_like(a)
    for i in range(n):
        dy = dx = 0
        while dy == 0 and dx == 0:
            dy, dx = rng.integers(-2, 3, 2)
        b[i] = p[i, :, 2 + dy:2 + dy + h, 2 + dx:2 + dx + w]
    out.append(b)
o = np.ascontiguousarray(np.concatenate(out).astype(np.float32))
np.save(dst, o)
print(o.shape)
