#!/usr/bin/python3
"""Write calib/testdata/pil: PNG images of random pixels (the hardest case for a resampler)
in an image folder, and what torchvision's evaluation transforms make of each with PIL,
for calib's TestResizeCropAgainstPIL.

For every setting below, OUT/SETTING.npy holds the uint8 HWC results, image after image in
the folder's order (class by class, names sorted), of
  resize R: PIL's Image.resize with BILINEAR to the size torchvision's Resize(R) computes
    (the shorter side R, the longer truncated: int(R * long / short));
  size S: Image.resize((S, S), BILINEAR), torchvision's Resize((S, S));
  crop C: torchvision's CenterCrop(C): top = int(round((h - C) / 2)), left likewise
    (Python's round, half to even).
And OUT/cmyk/c/cmyk.jpg, a JPEG stored as CMYK (as some of ImageNet's are), with
OUT/cmyk.npy, what PIL's convert("RGB") makes of it.
A reference generator for a test fixture, not part of sharpq; needs python3-pil and
python3-numpy (apt).

usage: scripts/pil-reference.py [OUT]   (default calib/testdata/pil)
"""
import os
import sys

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else "calib/testdata/pil"

# class/name: width, height. Shrinking wide and tall, enlarging, odd offsets.
IMAGES = {
    "a/wide.png": (61, 45),
    "a/tall.png": (37, 50),
    "b/small.png": (20, 17),
    "b/square.png": (33, 33),
}
# name: (size, resize, crop) as calib.Preprocess's Size, Resize, Crop.
SETTINGS = {
    "resize32_crop28": (0, 32, 28),
    "resize29_crop24": (0, 29, 24),
    "size24": (24, 0, 0),
    "size26_crop21": (26, 0, 21),
}


def resize(im, size, short):
    w, h = im.size
    if size:
        return im.resize((size, size), Image.BILINEAR)
    if short:
        if w <= h:
            ow, oh = short, int(short * h / w)
        else:
            ow, oh = int(short * w / h), short
        if (ow, oh) != (w, h):
            return im.resize((ow, oh), Image.BILINEAR)
    return im


def centre_crop(im, c):
    w, h = im.size
    top, left = int(round((h - c) / 2.0)), int(round((w - c) / 2.0))
    return im.crop((left, top, left + c, top + c))


def main():
    rng = np.random.default_rng(2026)
    for rel, (w, h) in IMAGES.items():
        path = os.path.join(OUT, "folder", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    order = sorted(IMAGES, key=lambda r: (r.split("/")[0], r.split("/")[1]))
    for name, (size, short, crop) in SETTINGS.items():
        outs = []
        for rel in order:
            im = resize(Image.open(os.path.join(OUT, "folder", rel)).convert("RGB"), size, short)
            if crop:
                im = centre_crop(im, crop)
            outs.append(np.asarray(im))
        np.save(os.path.join(OUT, name + ".npy"), np.stack(outs))
    cmyk = np.random.default_rng(7).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    path = os.path.join(OUT, "cmyk", "c", "cmyk.jpg")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(cmyk, "CMYK").save(path, quality=95)
    np.save(os.path.join(OUT, "cmyk.npy"), np.asarray(Image.open(path).convert("RGB"))[None])


if __name__ == "__main__":
    main()
