package generator

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"testing"
)

// TestWriteGrid checks the grid's size, layout, denormalisation and clamping.
func TestWriteGrid(t *testing.T) {
	nan := float32(math.NaN())
	im := &Images{N: 3, C: 1, H: 2, W: 2, Data: []float32{
		-1, 0, 1, 3, // image 0: 0, 0.5, 1, clamped 2
		-5, nan, 0.5, -0.5, // image 1
		0, 0, 0, 0, // image 2, alone on the second row
	}}
	var buf bytes.Buffer
	if err := WriteGrid(&buf, im, 2, []float32{0.5}, []float32{0.5}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("decoded %T, want a grey image", img)
	}
	if b := g.Bounds(); b.Dx() != 2*2+gridGap || b.Dy() != 2*2+gridGap {
		t.Fatalf("grid %v, want 6×6", b)
	}
	for _, c := range []struct {
		x, y int
		want uint8
	}{
		{0, 0, 0}, {1, 0, 128}, {0, 1, 255}, {1, 1, 255}, // image 0
		{4, 0, 0}, {5, 0, 0}, {4, 1, 191}, {5, 1, 64}, // image 1 (NaN → 0)
		{0, 4, 128}, {5, 5, 0}, {2, 0, 0}, // image 2, the empty cell, the gap
	} {
		if got := g.GrayAt(c.x, c.y).Y; got != c.want {
			t.Errorf("pixel (%d, %d) = %d, want %d", c.x, c.y, got, c.want)
		}
	}
	if err := WriteGrid(&buf, im, 0, []float32{0.5, 0.5}, []float32{1}); err == nil {
		t.Error("two mean values for one channel: no error")
	}
}
