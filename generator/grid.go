package generator

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
)

// gridGap is the width in pixels of the black lines between the images of a grid.
const gridGap = 2

// WriteGrid writes images as one PNG: a grid of cols images per row (0: as square a grid as
// fits them), each denormalised from the model's input space as x·std[c] + mean[c] and
// clamped to [0, 1]. mean and std hold one value per channel, or one for all; images with one
// channel give a grey PNG, with three an RGB one.
func WriteGrid(w io.Writer, im *Images, cols int, mean, std []float32) error {
	if im == nil || im.N == 0 {
		return fmt.Errorf("generator: grid: no images")
	}
	if im.C != 1 && im.C != 3 {
		return fmt.Errorf("generator: grid: images have %d channels; a PNG grid needs 1 or 3", im.C)
	}
	if len(im.Data) != im.N*im.C*im.H*im.W {
		return fmt.Errorf("generator: grid: %d values for %d×%d×%d×%d images", len(im.Data), im.N, im.C, im.H, im.W)
	}
	channel := func(v []float32, name string, c int) (float32, error) {
		switch len(v) {
		case 1:
			return v[0], nil
		case im.C:
			return v[c], nil
		}
		return 0, fmt.Errorf("generator: grid: %d %s values for %d channels", len(v), name, im.C)
	}
	if _, err := channel(mean, "mean", 0); err != nil {
		return err
	}
	if _, err := channel(std, "std", 0); err != nil {
		return err
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(im.N))))
	}
	cols = min(cols, im.N)
	rows := (im.N + cols - 1) / cols
	width := cols*im.W + (cols-1)*gridGap
	height := rows*im.H + (rows-1)*gridGap
	var img interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	if im.C == 1 {
		img = image.NewGray(image.Rect(0, 0, width, height))
	} else {
		img = image.NewRGBA(image.Rect(0, 0, width, height))
		draw := img.(*image.RGBA)
		for i := 3; i < len(draw.Pix); i += 4 {
			draw.Pix[i] = 255 // opaque black background
		}
	}
	level := func(x, m, s float32) uint8 {
		v := float64(x*s + m)
		if v != v {
			v = 0
		}
		return uint8(math.Round(math.Min(math.Max(v, 0), 1) * 255))
	}
	plane := im.H * im.W
	var px [3]uint8
	for i := 0; i < im.N; i++ {
		x0 := (i % cols) * (im.W + gridGap)
		y0 := (i / cols) * (im.H + gridGap)
		data := im.Image(i)
		for y := 0; y < im.H; y++ {
			for x := 0; x < im.W; x++ {
				for c := 0; c < im.C; c++ {
					m, _ := channel(mean, "mean", c)
					s, _ := channel(std, "std", c)
					px[c] = level(data[c*plane+y*im.W+x], m, s)
				}
				if im.C == 1 {
					img.Set(x0+x, y0+y, color.Gray{Y: px[0]})
				} else {
					img.Set(x0+x, y0+y, color.RGBA{R: px[0], G: px[1], B: px[2], A: 255})
				}
			}
		}
	}
	return png.Encode(w, img)
}

// SaveGrid writes WriteGrid's PNG to the file at path.
func SaveGrid(path string, im *Images, cols int, mean, std []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("generator: grid: %w", err)
	}
	if err := WriteGrid(f, im, cols, mean, std); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("generator: grid: %w", err)
	}
	return nil
}
