package calib

import (
	"fmt"
	"math"

	"github.com/sharpq/sharpq/option"
)

// Preprocess says how images are prepared before they reach a model.
//
// The zero value keeps images as they are after scaling to [0,1]: no
// resizing, no normalisation, channels as stored.
type Preprocess struct {
	// Mean is subtracted from every value of a channel: one value for all
	// channels or one per channel. Empty means 0 (no shift).
	Mean []float32
	// Std divides every value of a channel after Mean was subtracted: one
	// value for all channels or one per channel, each > 0. Empty means 1
	// (no scaling).
	Std []float32
	// Size, when > 0, resizes every image of an image folder to
	// Size×Size (bilinear, antialiased when shrinking), ignoring the aspect
	// ratio. 0 keeps the stored size. For .npy data it must be 0 or equal
	// the stored height and width: arrays are never resized.
	Size int
	// Resize, when > 0, resizes every image of an image folder so that its
	// shorter side is Resize pixels and the aspect ratio is kept (the
	// longer side truncated to whole pixels), as torchvision's Resize with
	// one size does, bilinear and antialiased when shrinking like Size. At
	// most one of Size and Resize is set; .npy data takes neither.
	Resize int
	// Crop, when > 0, cuts the centre Crop×Crop pixels out of every image
	// of an image folder after Size or Resize, at the offsets torchvision's
	// CenterCrop takes. An image smaller than Crop is an error. For .npy
	// data it must be 0 or equal the stored height and width.
	//
	// Resize 256 and Crop 224 is torchvision's ImageNet evaluation.
	Crop int
	// Grayscale converts colour images to one channel of luma
	// (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, as PIL's convert("L"))
	// instead of the default three RGB channels.
	Grayscale bool
}

// Validate checks p for images with the given number of channels: Mean and
// Std must each hold no value, one value or one per channel, every Std value
// must be > 0 and finite, every Mean value finite, Size, Resize and Crop must
// not be negative, and Size and Resize not both set. Errors name the field
// (Preprocess.Mean, …).
func (p Preprocess) Validate(channels int) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"Preprocess.Size", p.Size}, {"Preprocess.Resize", p.Resize}, {"Preprocess.Crop", p.Crop}} {
		if f.v < 0 {
			return fmt.Errorf("calib: %w", option.Errorf(f.name, "%s = %d: want 0 (keep) or a positive size", f.v))
		}
	}
	if p.Size > 0 && p.Resize > 0 {
		return fmt.Errorf("calib: %w", option.Errorf("Preprocess.Resize", "%s = %d and Preprocess.Size = %d: set one (Size squeezes to a square, Resize keeps the aspect ratio)", p.Resize, p.Size))
	}
	if err := checkPerChannel("Preprocess.Mean", p.Mean, channels); err != nil {
		return err
	}
	if err := checkPerChannel("Preprocess.Std", p.Std, channels); err != nil {
		return err
	}
	for i, m := range p.Mean {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) {
			return fmt.Errorf("calib: %w", option.Errorf("Preprocess.Mean", "the %[2]s value of %[1]s is %[3]v: want a finite number", ordinal(i+1), m))
		}
	}
	for i, s := range p.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("calib: %w", option.Errorf("Preprocess.Std", "the %[2]s value of %[1]s is %[3]v: want a finite number > 0", ordinal(i+1), s))
		}
	}
	return nil
}

func checkPerChannel(name string, v []float32, channels int) error {
	if len(v) == 0 || len(v) == 1 || len(v) == channels {
		return nil
	}
	want := fmt.Sprintf("1 or %d (one per channel)", channels)
	if channels == 1 {
		want = "1"
	}
	return fmt.Errorf("calib: %w", option.Errorf(name, "%s has %d values for %d-channel images: want %s", len(v), channels, want))
}

// perChannel expands v (empty, one value or one per channel) to one value per
// channel, using def when v is empty.
func perChannel(v []float32, channels int, def float32) []float32 {
	out := make([]float32, channels)
	for c := range out {
		switch len(v) {
		case 0:
			out[c] = def
		case 1:
			out[c] = v[0]
		default:
			out[c] = v[c]
		}
	}
	return out
}

// normalize applies (x - mean[c]) / std[c] in place to NCHW data with
// channels channels of hw values each. p must have been validated.
func (p Preprocess) normalize(x []float32, channels, hw int) {
	if len(p.Mean) == 0 && len(p.Std) == 0 {
		return
	}
	mean := perChannel(p.Mean, channels, 0)
	std := perChannel(p.Std, channels, 1)
	for off := 0; off < len(x); off += channels * hw {
		for c := range channels {
			m, s := mean[c], std[c]
			plane := x[off+c*hw : off+(c+1)*hw]
			for i, v := range plane {
				plane[i] = (v - m) / s
			}
		}
	}
}

// ordinal spells n ≥ 1 as "1st", "2nd", "3rd", "4th", …, "11th", "21st": "value 1" could be
// read as a value equal to 1, "the 1st value" only as a position.
func ordinal(n int) string {
	suffix := "th"
	switch n % 100 {
	case 11, 12, 13:
	default:
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprint(n) + suffix
}
