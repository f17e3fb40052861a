package calib

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// solid returns a w×h NRGBA image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// saveImage writes img under dir/rel as PNG or JPEG (quality 100) by the
// extension of rel.
func saveImage(t *testing.T, dir, rel string, img image.Image) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.EqualFold(filepath.Ext(rel), ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 100})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// plane returns n copies of v.
func plane(n int, v ...float32) []float32 {
	var out []float32
	for _, x := range v {
		for range n {
			out = append(out, x)
		}
	}
	return out
}

func TestLoadImageFolder(t *testing.T) {
	red := color.NRGBA{255, 0, 0, 255}
	grey := color.NRGBA{51, 51, 51, 255}
	// Two classes of 4×4 images: PNGs whose values are exact, one JPEG
	// (quality 100, solid colour: within 2/255), upper-case extensions,
	// a nested folder, and files that must be skipped.
	dir := t.TempDir()
	saveImage(t, dir, "dog/b.PNG", solid(4, 4, grey))
	saveImage(t, dir, "cat/a.png", solid(4, 4, red))
	saveImage(t, dir, "cat/sub/c.Jpg", solid(4, 4, color.NRGBA{0, 0, 255, 255}))
	saveImage(t, dir, "cat/.hidden.png", solid(5, 5, red))
	saveImage(t, dir, ".git/x.png", solid(5, 5, red))
	writeFile(t, dir, "cat/notes.txt", "not an image")
	writeFile(t, dir, "README", "top-level files are not classes")

	d, err := LoadImageFolder(context.Background(), dir, Preprocess{})
	if err != nil {
		t.Fatal(err)
	}
	if got := [4]int{d.N, d.C, d.H, d.W}; got != [4]int{3, 3, 4, 4} {
		t.Fatalf("shape %v, want [3 3 4 4]", got)
	}
	if !slices.Equal(d.ClassNames, []string{"cat", "dog"}) {
		t.Fatalf("classes %v, want [cat dog]", d.ClassNames)
	}
	if !slices.Equal(d.Labels, []int64{0, 0, 1}) {
		t.Fatalf("labels %v, want [0 0 1]", d.Labels)
	}
	assertClose(t, d.X[:48], plane(16, 1, 0, 0), 0)
	assertClose(t, d.X[48:96], plane(16, 0, 0, 1), 2.0/255)
	assertClose(t, d.X[96:], plane(16, 0.2, 0.2, 0.2), 1e-7)
}

func TestLoadImageFolderPreprocess(t *testing.T) {
	// A 8×6 image, black on its left half and white on its right.
	halves := image.NewGray(image.Rect(0, 0, 8, 6))
	for y := range 6 {
		for x := 4; x < 8; x++ {
			halves.SetGray(x, y, color.Gray{255})
		}
	}
	// 16-bit grey: values keep their 16-bit precision.
	g16 := image.NewGray16(image.Rect(0, 0, 2, 2))
	for i := range 4 {
		g16.SetGray16(i%2, i/2, color.Gray16{uint16(1000 * (i + 1))})
	}
	// Transparent colour: alpha is dropped, colour kept (PIL's RGB).
	transparent := solid(2, 2, color.NRGBA{200, 100, 50, 0})
	half := solid(2, 2, color.NRGBA{200, 100, 50, 128})
	// A palette image with a transparent entry.
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{
		color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 51, 0, 0}})
	pal.SetColorIndex(1, 0, 1)

	tests := []struct {
		name      string
		files     map[string]image.Image
		p         Preprocess
		wantShape [4]int
		wantX     []float32
		tol       float64
	}{
		{
			name:      "grayscale luma",
			files:     map[string]image.Image{"a/x.png": solid(2, 2, color.NRGBA{255, 128, 0, 255})},
			p:         Preprocess{Grayscale: true},
			wantShape: [4]int{1, 1, 2, 2},
			wantX:     plane(4, (0.299*255+0.587*128)/255),
			tol:       1e-4,
		},
		{
			name:      "grayscale normalised",
			files:     map[string]image.Image{"a/x.png": solid(2, 2, color.NRGBA{51, 51, 51, 255})},
			p:         Preprocess{Grayscale: true, Mean: []float32{0.1}, Std: []float32{0.5}},
			wantShape: [4]int{1, 1, 2, 2},
			wantX:     plane(4, 0.2),
			tol:       1e-6,
		},
		{
			name:      "gray image as RGB",
			files:     map[string]image.Image{"a/x.png": image.NewGray(image.Rect(0, 0, 1, 1))},
			wantShape: [4]int{1, 3, 1, 1},
			wantX:     []float32{0, 0, 0},
		},
		{
			name:      "16-bit",
			files:     map[string]image.Image{"a/x.png": g16},
			p:         Preprocess{Grayscale: true},
			wantShape: [4]int{1, 1, 2, 2},
			wantX:     []float32{1000.0 / 65535, 2000.0 / 65535, 3000.0 / 65535, 4000.0 / 65535},
			tol:       1e-7,
		},
		{
			name:      "alpha 0 dropped",
			files:     map[string]image.Image{"a/x.png": transparent},
			wantShape: [4]int{1, 3, 2, 2},
			wantX:     plane(4, 200.0/255, 100.0/255, 50.0/255),
			tol:       1e-7,
		},
		{
			name:      "alpha 128 dropped",
			files:     map[string]image.Image{"a/x.png": half},
			wantShape: [4]int{1, 3, 2, 2},
			wantX:     plane(4, 200.0/255, 100.0/255, 50.0/255),
			tol:       1e-7,
		},
		{
			name:      "palette alpha dropped",
			files:     map[string]image.Image{"a/x.png": pal},
			wantShape: [4]int{1, 3, 1, 2},
			wantX:     []float32{1, 0, 0, 0.2, 0, 0},
			tol:       1e-7,
		},
		{
			name: "resize solid colour",
			files: map[string]image.Image{
				"a/x.png": solid(7, 3, color.NRGBA{0, 51, 255, 255}),
				"b/y.png": solid(2, 2, color.NRGBA{0, 51, 255, 255}),
			},
			p:         Preprocess{Size: 4},
			wantShape: [4]int{2, 3, 4, 4},
			wantX:     slices.Concat(plane(16, 0, 0.2, 1), plane(16, 0, 0.2, 1)),
			tol:       1e-6,
		},
		{
			name:      "resize halves",
			files:     map[string]image.Image{"a/x.png": halves},
			p:         Preprocess{Size: 4, Grayscale: true},
			wantShape: [4]int{1, 1, 4, 4},
			// Shrinking 8→4 columns widens the tent kernel to two
			// source pixels (antialiasing): dst column 1, centred at
			// source 3.0, weighs source columns 1–4 by 1:3:3:1, one of
			// eight parts white: 1/8; column 2 likewise 7/8. Rows of
			// equal values stay equal.
			wantX: slices.Concat(
				[]float32{0, 0.125, 0.875, 1}, []float32{0, 0.125, 0.875, 1},
				[]float32{0, 0.125, 0.875, 1}, []float32{0, 0.125, 0.875, 1}),
			tol: 1e-3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for rel, img := range tt.files {
				saveImage(t, dir, rel, img)
			}
			d, err := LoadImageFolder(context.Background(), dir, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := [4]int{d.N, d.C, d.H, d.W}; got != tt.wantShape {
				t.Fatalf("shape %v, want %v", got, tt.wantShape)
			}
			assertClose(t, d.X, tt.wantX, tt.tol)
		})
	}
}

func TestLoadImageFolderErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		p       Preprocess
		wantErr string
	}{
		{
			name:    "empty",
			setup:   func(t *testing.T, dir string) {},
			wantErr: "has no class subfolders",
		},
		{
			name:    "no images",
			setup:   func(t *testing.T, dir string) { writeFile(t, dir, "readme.txt", "no images") },
			wantErr: "has no class subfolders and no images",
		},
		{
			name: "class without images",
			setup: func(t *testing.T, dir string) {
				saveImage(t, dir, "a/x.png", solid(1, 1, color.NRGBA{}))
				writeFile(t, dir, "b/readme.txt", "no images")
			},
			wantErr: "class folder b has no JPEG or PNG images",
		},
		{
			name: "sizes differ",
			setup: func(t *testing.T, dir string) {
				saveImage(t, dir, "a/x.png", solid(2, 2, color.NRGBA{}))
				saveImage(t, dir, "b/y.png", solid(3, 2, color.NRGBA{}))
			},
			wantErr: filepath.Join("b", "y.png") + " is 3×2 and ",
		},
		{
			name:    "corrupt",
			setup:   func(t *testing.T, dir string) { writeFile(t, dir, "a/x.jpeg", "not a jpeg") },
			wantErr: filepath.Join("a", "x.jpeg") + ": neither JPEG nor PNG data",
		},
		{
			// Only the header: the decoder would allocate 4×3.6 GB from it.
			name:    "too many pixels",
			setup:   func(t *testing.T, dir string) { writeFile(t, dir, "a/x.png", string(bigPNGHeader(60000, 60000))) },
			wantErr: filepath.Join("a", "x.png") + ": 60000×60000 pixels, more than the 178956970 sharpq decodes",
		},
		{
			name:    "std count",
			setup:   func(t *testing.T, dir string) { saveImage(t, dir, "a/x.png", solid(1, 1, color.NRGBA{})) },
			p:       Preprocess{Std: []float32{1, 1}},
			wantErr: "Preprocess.Std has 2 values for 3-channel images",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := LoadImageFolder(context.Background(), dir, tt.p)
			checkErr(t, err, tt.wantErr)
		})
	}
	_, err := LoadImageFolder(context.Background(), filepath.Join(t.TempDir(), "absent"), Preprocess{})
	checkErr(t, err, "absent")
}

// bigPNGHeader returns the signature and IHDR chunk of a w×h 8-bit RGB PNG, all that
// image.DecodeConfig reads.
func bigPNGHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := binary.BigEndian.AppendUint32(nil, 13)
	chunk = append(chunk, "IHDR"...)
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 2, 0, 0, 0)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	return append(b, chunk...)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	saveImage(t, dir, "folder/a/x.png", solid(1, 1, color.NRGBA{255, 255, 255, 255}))
	npyPath := filepath.Join(dir, "x.NPY")
	if err := SaveNPYUint8(npyPath, []uint8{255}, []int{1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "x.txt", "")
	folder := filepath.Join(dir, "folder")

	tests := []struct {
		name, data, labels string
		wantC              int
		wantErr            string
	}{
		{name: "folder", data: folder, wantC: 3},
		{name: "npy", data: npyPath, wantC: 1},
		{name: "folder with labels", data: folder, labels: npyPath, wantErr: "labels file " + npyPath + " given, but " + folder + " is an image folder"},
		{name: "other file", data: filepath.Join(dir, "x.txt"), wantErr: "x.txt: want a .npy file or an image folder"},
		{name: "missing", data: filepath.Join(dir, "nope"), wantErr: "nope: no such file"},
		{name: "empty", data: "", wantErr: "no data path given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(context.Background(), tt.data, tt.labels, Preprocess{})
			checkErr(t, err, tt.wantErr)
			if err == nil && (d.C != tt.wantC || d.N != 1 || d.X[0] != 1) {
				t.Fatalf("got N=%d C=%d X=%v, want N=1 C=%d X=[1 …]", d.N, d.C, d.X, tt.wantC)
			}
		})
	}
}

// Images decoded in parallel land in folder order, a bad one is reported as the first bad
// one in that order whichever worker met it, and a cancelled ctx stops the decoding.
func TestLoadImageFolderParallel(t *testing.T) {
	dir := t.TempDir()
	const n = 40
	for i := range n {
		v := uint8(i * 5)
		saveImage(t, dir, fmt.Sprintf("c%d/%02d.png", i%2, i), solid(3, 3, color.NRGBA{v, v, v, 255}))
	}
	d, err := LoadImageFolder(context.Background(), dir, Preprocess{Grayscale: true})
	if err != nil {
		t.Fatal(err)
	}
	// Class c0 holds the even images in name order, then c1 the odd ones.
	for k := range n {
		i := 2 * k
		if k >= n/2 {
			i = 2*(k-n/2) + 1
		}
		if got, want := d.X[k*9], float32(i*5)/255; math.Abs(float64(got-want)) > 1e-6 || d.Labels[k] != int64(i%2) {
			t.Fatalf("image %d: %g, label %d; want %g, label %d", k, got, d.Labels[k], want, i%2)
		}
	}

	writeFile(t, dir, "c0/30.png", "not a png")
	writeFile(t, dir, "c1/31.png", "not a png either")
	if _, err := LoadImageFolder(context.Background(), dir, Preprocess{Grayscale: true}); err == nil || !strings.Contains(err.Error(), "30.png") {
		t.Errorf("LoadImageFolder: %v, want the error of c0/30.png, the first bad image", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadImageFolder(ctx, dir, Preprocess{Grayscale: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("LoadImageFolder with a cancelled context: %v, want context.Canceled", err)
	}
}

// OpenImageFolder with n keeps n images spread evenly through the folder, every class in
// proportion, and reads only their headers: a broken image it does not keep costs nothing.
func TestOpenImageFolderSpread(t *testing.T) {
	dir := t.TempDir()
	for i := range 10 {
		v := uint8(i * 20)
		saveImage(t, dir, fmt.Sprintf("c%d/%02d.png", i/5, i), solid(2, 2, color.NRGBA{v, v, v, 255}))
	}
	writeFile(t, dir, "c0/01.png", "not a png") // image 1, which n = 3 does not keep
	tests := []struct {
		n       int
		want    []int // the images kept, by index in folder order
		wantErr string
	}{
		{n: 3, want: []int{0, 3, 6}},
		{n: 4, want: []int{0, 2, 5, 7}, wantErr: ""},
		{n: 5, want: []int{0, 2, 4, 6, 8}},
		{n: 2, want: []int{0, 5}},
		{n: 1, want: []int{0}},
		{n: 10, wantErr: filepath.Join("c0", "01.png")},
		{n: 0, wantErr: filepath.Join("c0", "01.png")},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			f, err := OpenImageFolder(context.Background(), dir, Preprocess{Grayscale: true}, tt.n)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, err := f.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d.N != len(tt.want) || f.Listed() != 10 {
				t.Fatalf("%d images of %d, want %d of 10", d.N, f.Listed(), len(tt.want))
			}
			for k, i := range tt.want {
				if got, want := d.X[4*k], float32(i*20)/255; math.Abs(float64(got-want)) > 1e-6 || d.Labels[k] != int64(i/5) {
					t.Errorf("image %d: %g, label %d; want image %d (%g, label %d)", k, got, d.Labels[k], i, want, i/5)
				}
			}
		})
	}
}

// A folder of images without class subfolders is read as images without labels, in name order.
func TestLoadImageFolderFlat(t *testing.T) {
	dir := t.TempDir()
	saveImage(t, dir, "b.png", solid(2, 2, color.NRGBA{51, 51, 51, 255}))
	saveImage(t, dir, "a.PNG", solid(2, 2, color.NRGBA{255, 255, 255, 255}))
	writeFile(t, dir, "notes.txt", "not an image")
	writeFile(t, dir, ".hidden.png", "skipped")
	d, err := LoadImageFolder(context.Background(), dir, Preprocess{Grayscale: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 2 || d.Labels != nil || d.ClassNames != nil {
		t.Fatalf("%d images, labels %v, classes %v: want 2 without labels", d.N, d.Labels, d.ClassNames)
	}
	assertClose(t, d.X, slices.Concat(plane(4, 1), plane(4, 0.2)), 1e-6)
}

// The format comes from the file's content, not its name: a PNG named .JPEG (as one of
// ImageNet's training images is) and a JPEG named .png load as what they are.
func TestLoadImageFolderFormatByContent(t *testing.T) {
	dir := t.TempDir()
	saveImage(t, dir, "a/real.png", solid(2, 2, color.NRGBA{51, 51, 51, 255}))
	saveImage(t, dir, "a/real.jpg", solid(2, 2, color.NRGBA{204, 204, 204, 255}))
	for from, to := range map[string]string{"a/real.png": "a/png.JPEG", "a/real.jpg": "a/jpeg.png"} {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := LoadImageFolder(context.Background(), dir, Preprocess{Grayscale: true})
	if err != nil {
		t.Fatal(err)
	}
	// jpeg.png, then png.JPEG.
	assertClose(t, d.X, slices.Concat(plane(4, 0.8), plane(4, 0.2)), 2e-2)
}
