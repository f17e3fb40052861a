package calib

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
)

// TestResizeCropAgainstPIL prepares the images of testdata/pil/folder (random pixels, the
// hardest case for a resampler) with Size, Resize and Crop and compares them with what PIL
// and torchvision's Resize and CenterCrop made of them (scripts/pil-reference.py). PIL rounds
// to 8 bits between its horizontal and vertical passes, so the two differ by up to about one
// level of 255; a wrong size, offset or kernel (no antialiasing when shrinking) differs by tens.
func TestResizeCropAgainstPIL(t *testing.T) {
	tests := []struct {
		file string
		p    Preprocess
	}{
		{"cmyk", Preprocess{}}, // a CMYK JPEG, converted to RGB as PIL converts it
		{"resize32_crop28", Preprocess{Resize: 32, Crop: 28}},
		{"resize29_crop24", Preprocess{Resize: 29, Crop: 24}},
		{"size24", Preprocess{Size: 24}},
		{"size26_crop21", Preprocess{Size: 26, Crop: 21}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			want, shape := readU8(t, filepath.Join("testdata", "pil", tt.file+".npy"))
			folder := filepath.Join("testdata", "pil", "folder")
			if tt.file == "cmyk" {
				folder = filepath.Join("testdata", "pil", "cmyk")
			}
			d, err := LoadImageFolder(context.Background(), folder, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			n, h, w, c := shape[0], shape[1], shape[2], shape[3]
			if d.N != n || d.C != c || d.H != h || d.W != w {
				t.Fatalf("shape %d×%d×%d×%d, PIL's %d×%d×%d×%d (NCHW)", d.N, d.C, d.H, d.W, n, c, h, w)
			}
			var worst, sum float64
			for i := range n {
				for y := range h {
					for x := range w {
						for ch := range c {
							got := float64(d.X[((i*c+ch)*h+y)*w+x]) * 255
							diff := math.Abs(got - float64(want[((i*h+y)*w+x)*c+ch]))
							worst = max(worst, diff)
							sum += diff
						}
					}
				}
			}
			mean := sum / float64(len(want))
			t.Logf("against PIL: largest difference %.3f, mean %.3f (of 255)", worst, mean)
			if worst > 1.5 || mean > 0.5 {
				t.Errorf("largest difference %.3f, mean %.3f (of 255): want ≤ 1.5 and ≤ 0.5", worst, mean)
			}
		})
	}
}

// readU8 reads a uint8 .npy array and its shape.
func readU8(t *testing.T, path string) ([]uint8, []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npy.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var v []uint8
	if err := r.Read(&v); err != nil {
		t.Fatal(err)
	}
	return v, r.Header.Descr.Shape
}

func TestResizeGeometry(t *testing.T) {
	tests := []struct {
		w, h, size   int
		wantW, wantH int
	}{
		{500, 375, 256, 341, 256}, // 341.33 truncated
		{375, 500, 256, 256, 341},
		{256, 256, 256, 256, 256},
		{10, 1000, 256, 256, 25600},
		{1000, 999, 256, 256, 256}, // 256.26 truncated
		{20, 17, 29, 34, 29},       // enlarging
	}
	for _, tt := range tests {
		if w, h := shorterSideTo(tt.w, tt.h, tt.size); w != tt.wantW || h != tt.wantH {
			t.Errorf("shorterSideTo(%d, %d, %d) = %d×%d, want %d×%d", tt.w, tt.h, tt.size, w, h, tt.wantW, tt.wantH)
		}
	}
	offsets := []struct{ side, n, want int }{
		{256, 224, 16},
		{257, 224, 16}, // 16.5 to even
		{259, 224, 18}, // 17.5 to even
		{341, 224, 58}, // 58.5 to even
		{224, 224, 0},
	}
	for _, tt := range offsets {
		if got := centreOffset(tt.side, tt.n); got != tt.want {
			t.Errorf("centreOffset(%d, %d) = %d, want %d", tt.side, tt.n, got, tt.want)
		}
	}
}

func TestResizeCropErrors(t *testing.T) {
	dir := t.TempDir()
	saveImage(t, dir, "a/x.png", solid(30, 20, color.NRGBA{A: 255}))
	saveImage(t, dir, "b/y.png", solid(20, 30, color.NRGBA{A: 255}))
	tests := []struct {
		name    string
		p       Preprocess
		wantErr string
		sizes   bool // the error wraps ErrImageSizes
	}{
		{"resize without crop", Preprocess{Resize: 10}, filepath.Join("b", "y.png") + " is 10×15 and " + filepath.Join(dir, "a", "x.png") + " 15×10 after resizing", true},
		{"crop larger", Preprocess{Resize: 10, Crop: 12}, "Preprocess.Crop = 12: " + filepath.Join(dir, "a", "x.png") + " is 15×10 after resizing, smaller than the crop", false},
		{"crop larger than stored", Preprocess{Crop: 21}, "Preprocess.Crop = 21: " + filepath.Join(dir, "a", "x.png") + " is 30×20, smaller", false},
		{"size and resize", Preprocess{Size: 10, Resize: 10}, "Preprocess.Resize = 10 and Preprocess.Size = 10: set one", false},
		{"negative crop", Preprocess{Crop: -1}, "Preprocess.Crop = -1", false},
		{"negative resize", Preprocess{Resize: -2}, "Preprocess.Resize = -2", false},
		{"crop alone", Preprocess{Crop: 20}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := LoadImageFolder(context.Background(), dir, tt.p)
			checkErr(t, err, tt.wantErr)
			if got := errors.Is(err, ErrImageSizes); got != tt.sizes {
				t.Errorf("errors.Is(err, ErrImageSizes) = %v, want %v", got, tt.sizes)
			}
			if err == nil && (d.H != tt.p.Crop || d.W != tt.p.Crop) {
				t.Errorf("images %d×%d, want %d×%d", d.W, d.H, tt.p.Crop, tt.p.Crop)
			}
		})
	}
}

// TestCropFramed frames images in larger canvases of odd and even margins and cuts them out
// again with Crop: the pixels come back exactly, from where torchvision's CenterCrop takes
// them (half the margin rounded half to even).
func TestCropFramed(t *testing.T) {
	const side = 6
	frames := []struct{ w, h, left, top int }{
		{side + 6, side + 3, 3, 2}, // 1.5 → 2
		{side + 5, side + 1, 2, 0}, // 2.5 → 2, 0.5 → 0
		{side + 7, side + 7, 4, 4}, // 3.5 → 4
		{side, side, 0, 0},
	}
	dir := t.TempDir()
	var want []float32
	for i, f := range frames {
		img := image.NewNRGBA(image.Rect(0, 0, f.w, f.h))
		var r, g, b []float32
		for p := range side * side {
			c := color.NRGBA{uint8(37*i + 5*p), uint8(91 * p), uint8(255 - 7*p), 255}
			img.SetNRGBA(f.left+p%side, f.top+p/side, c)
			r, g, b = append(r, float32(c.R)/255), append(g, float32(c.G)/255), append(b, float32(c.B)/255)
		}
		want = append(want, slices.Concat(r, g, b)...)
		saveImage(t, dir, fmt.Sprintf("a/%d.png", i), img)
	}
	d, err := LoadImageFolder(context.Background(), dir, Preprocess{Crop: side})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, d.X, want, 1e-7)
}
