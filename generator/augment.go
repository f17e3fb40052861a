package generator

import "math/rand/v2"

// The synthetic set is small (256 images in the fast preset), and reconstruction learns
// rounding and step sizes that fit it; the augmentations below widen it with inputs the
// model was trained to expect, at no synthesis cost. They return new Images without Batches.

// WithMirrors returns the images followed by their horizontal mirrors (2N images, new Data;
// Batches are left out). A classifier trained with random horizontal flips, as most are,
// takes a mirrored image as an equally likely input, so the mirrors widen a calibration set
// at no synthesis cost.
func (im *Images) WithMirrors() *Images {
	sz := im.C * im.H * im.W
	out := &Images{N: 2 * im.N, C: im.C, H: im.H, W: im.W, Data: make([]float32, 2*im.N*sz)}
	copy(out.Data, im.Data[:im.N*sz])
	mirrored := out.Data[im.N*sz:]
	for row := 0; row < im.N*im.C*im.H; row++ {
		src, dst := im.Data[row*im.W:(row+1)*im.W], mirrored[row*im.W:(row+1)*im.W]
		for x := range src {
			dst[im.W-1-x] = src[x]
		}
	}
	return out
}

// WithShifts returns the images followed by copies shifted by a random offset of up to max
// pixels along each axis (never 0, 0), copies per image, drawn from seed; the border is
// reflected, as swing's shifts during synthesis are. Random-crop training (pad and crop,
// or resized crops) makes small translations equally likely inputs. The result has
// (1+copies)·N images: the originals, then each round of copies in image order.
func (im *Images) WithShifts(copies, max int, seed uint64) *Images {
	if copies <= 0 || max <= 0 {
		return im.clone()
	}
	// reflect folds back once: a shift must stay smaller than the image.
	max = min(max, im.H-1, im.W-1)
	sz := im.C * im.H * im.W
	out := &Images{N: (1 + copies) * im.N, C: im.C, H: im.H, W: im.W, Data: make([]float32, (1+copies)*im.N*sz)}
	copy(out.Data, im.Data[:im.N*sz])
	rng := rand.New(rand.NewPCG(seed, 0x5d1f7))
	for k := 1; k <= copies; k++ {
		for i := 0; i < im.N; i++ {
			dy, dx := 0, 0
			for dy == 0 && dx == 0 {
				dy, dx = rng.IntN(2*max+1)-max, rng.IntN(2*max+1)-max
			}
			shiftImage(out.Image(k*im.N+i), im.Image(i), im.C, im.H, im.W, dy, dx)
		}
	}
	return out
}

func (im *Images) clone() *Images {
	return &Images{N: im.N, C: im.C, H: im.H, W: im.W, Data: append([]float32(nil), im.Data[:im.N*im.C*im.H*im.W]...)}
}

// shiftImage writes src [C, H, W] moved down by dy and right by dx into dst, reading
// reflected pixels (swing's reflect) where the source lies outside the image.
func shiftImage(dst, src []float32, c, h, w, dy, dx int) {
	for ch := 0; ch < c; ch++ {
		plane := src[ch*h*w : (ch+1)*h*w]
		for y := 0; y < h; y++ {
			sy := reflect(y-dy, h)
			for x := 0; x < w; x++ {
				dst[ch*h*w+y*w+x] = plane[sy*w+reflect(x-dx, w)]
			}
		}
	}
}
