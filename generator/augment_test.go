package generator

import (
	"slices"
	"testing"
)

func TestShiftImage(t *testing.T) {
	// One 1×3×4 image, values 0…11 row by row.
	src := []float32{
		0, 1, 2, 3,
		4, 5, 6, 7,
		8, 9, 10, 11,
	}
	tests := []struct {
		name   string
		dy, dx int
		want   []float32
	}{
		{"none", 0, 0, src},
		{"right 1: column −1 reflects to column 1", 0, 1, []float32{
			1, 0, 1, 2,
			5, 4, 5, 6,
			9, 8, 9, 10}},
		{"left 2: columns 4, 5 reflect to 2, 1", 0, -2, []float32{
			2, 3, 2, 1,
			6, 7, 6, 5,
			10, 11, 10, 9}},
		{"down 1, left 1", 1, -1, []float32{
			5, 6, 7, 6,
			1, 2, 3, 2,
			5, 6, 7, 6}},
		{"up 2", -2, 0, []float32{
			8, 9, 10, 11,
			4, 5, 6, 7,
			0, 1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]float32, len(src))
			shiftImage(got, src, 1, 3, 4, tc.dy, tc.dx)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWithShifts(t *testing.T) {
	// Three 2×5×6 images with distinct values, so that each copy's shift can be recovered.
	const n, c, h, w = 3, 2, 5, 6
	im := &Images{N: n, C: c, H: h, W: w, Data: make([]float32, n*c*h*w)}
	for i := range im.Data {
		im.Data[i] = float32(i)
	}
	orig := slices.Clone(im.Data)
	const copies, max = 4, 2
	got := im.WithShifts(copies, max, 7)
	if got.N != (1+copies)*n || got.C != c || got.H != h || got.W != w {
		t.Fatalf("shape %d×%d×%d×%d, want %d×%d×%d×%d", got.N, got.C, got.H, got.W, (1+copies)*n, c, h, w)
	}
	if !slices.Equal(got.Data[:len(orig)], orig) || !slices.Equal(im.Data, orig) {
		t.Fatal("the originals are not first and unchanged")
	}
	buf := make([]float32, c*h*w)
	seen := map[[2]int]bool{}
	for k := 1; k <= copies; k++ {
		for i := 0; i < n; i++ {
			found := false
			for dy := -max; dy <= max && !found; dy++ {
				for dx := -max; dx <= max && !found; dx++ {
					shiftImage(buf, im.Image(i), c, h, w, dy, dx)
					if slices.Equal(buf, got.Image(k*n+i)) {
						found = true
						if dy == 0 && dx == 0 {
							t.Errorf("copy %d of image %d is not shifted", k, i)
						}
						seen[[2]int{dy, dx}] = true
					}
				}
			}
			if !found {
				t.Errorf("copy %d of image %d is no shift of it within ±%d", k, i, max)
			}
		}
	}
	if len(seen) < 4 {
		t.Errorf("12 copies used only %d distinct shifts: %v", len(seen), seen)
	}
	if again := im.WithShifts(copies, max, 7); !slices.Equal(again.Data, got.Data) {
		t.Error("the same seed gave different shifts")
	}
	if other := im.WithShifts(copies, max, 8); slices.Equal(other.Data, got.Data) {
		t.Error("seeds 7 and 8 gave the same shifts")
	}
	if none := im.WithShifts(0, max, 7); none.N != n || !slices.Equal(none.Data, orig) {
		t.Errorf("no copies: %d images, want the %d originals", none.N, n)
	}
}
