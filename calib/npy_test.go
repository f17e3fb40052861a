package calib

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"

	"github.com/sharpq/sharpq/option"
)

// writeNPY writes v with npyio itself, for dtypes calib does not save.
func writeNPY(t *testing.T, path string, v any) {
	t.Helper()
	var buf bytes.Buffer
	if err := npy.Write(&buf, v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSaveReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		x     []uint8
		shape []int
	}{
		{"1-D", []uint8{1, 2, 3}, []int{3}},
		{"NCHW", seqU8(2 * 3 * 2 * 2), []int{2, 3, 2, 2}},
		{"NHW", seqU8(2 * 3 * 4), []int{2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".npy")
			if err := SaveNPYUint8(path, tt.x, tt.shape); err != nil {
				t.Fatal(err)
			}
			x, shape, err := ReadNPYUint8(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x, tt.x) || !slices.Equal(shape, tt.shape) {
				t.Fatalf("got %v %v, want %v %v", x, shape, tt.x, tt.shape)
			}
		})
	}
	// Atomic writes leave no temporary files behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestSaveNPYInt64(t *testing.T) {
	path := filepath.Join(t.TempDir(), "labels.npy")
	want := []int64{0, 9, -3, 1 << 40}
	if err := SaveNPYInt64(path, want, []int{4}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("\x93NUMPY")) || !bytes.Contains(raw, []byte("'descr': '<i8'")) ||
		!bytes.Contains(raw, []byte("'shape': (4,)")) {
		t.Fatalf("unexpected header %q", raw[:min(len(raw), 128)])
	}
	got, shape, err := ReadNPYInt64(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || !slices.Equal(shape, []int{4}) {
		t.Fatalf("got %v %v, want %v [4]", got, shape, want)
	}
}

func TestSaveNPYErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		x       []uint8
		shape   []int
		wantErr string
	}{
		{"no shape", []uint8{1}, nil, "no shape given"},
		{"count", []uint8{1, 2, 3}, []int{2, 2}, "shape [2 2] holds 4 elements, got 3"},
		{"zero dim", nil, []int{0, 2}, "every dimension must be ≥ 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "x.npy")
			checkErr(t, SaveNPYUint8(path, tt.x, tt.shape), tt.wantErr)
			if _, err := os.Stat(path); err == nil {
				t.Fatalf("%s written despite the error", path)
			}
		})
	}
	checkErr(t, SaveNPYUint8(filepath.Join(dir, "missing", "x.npy"), []uint8{1}, []int{1}), "missing")
}

func TestReadNPYInt64Dtypes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		v       any
		want    []int64
		wantErr string
	}{
		{"int64", []int64{3, -1}, []int64{3, -1}, ""},
		{"int32", []int32{3, -1}, []int64{3, -1}, ""},
		{"int16", []int16{3, -1}, []int64{3, -1}, ""},
		{"int8", []int8{3, -1}, []int64{3, -1}, ""},
		{"uint8", []uint8{3, 255}, []int64{3, 255}, ""},
		{"uint16", []uint16{3, 65535}, []int64{3, 65535}, ""},
		{"uint32", []uint32{3, 1 << 31}, []int64{3, 1 << 31}, ""},
		{"uint64", []uint64{3, 1 << 62}, []int64{3, 1 << 62}, ""},
		{"uint64 overflow", []uint64{3, 1 << 63}, nil, "overflows int64"},
		{"float32", []float32{3}, nil, "dtype f4: want an integer dtype"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".npy")
			writeNPY(t, path, tt.v)
			got, _, err := ReadNPYInt64(path)
			checkErr(t, err, tt.wantErr)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadNPY(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	mustSave := func(name string, x []uint8, shape ...int) string {
		if err := SaveNPYUint8(path(name), x, shape); err != nil {
			t.Fatal(err)
		}
		return path(name)
	}
	u8NCHW := mustSave("u8nchw.npy", []uint8{0, 51, 102, 255, 255, 0, 0, 0, 0, 0, 0, 0}, 3, 1, 2, 2)
	u8NHW := mustSave("u8nhw.npy", []uint8{0, 255, 51, 102, 255, 0}, 2, 1, 3)
	u8RGB := mustSave("u8rgb.npy", []uint8{255, 0, 0, 0, 255, 255, 0, 0, 255, 51, 51, 51}, 1, 3, 2, 2)
	rank2 := mustSave("rank2.npy", []uint8{1, 2, 3, 4}, 2, 2)
	rank5 := mustSave("rank5.npy", []uint8{1, 2}, 1, 1, 1, 1, 2)
	writeNPY(t, path("f32.npy"), [][][][]float32{{{{-1, 0.5}}, {{2, 3}}}})
	writeNPY(t, path("f64.npy"), [][][]float64{{{-1, 0.5}}})
	writeNPY(t, path("i16data.npy"), [][][]int16{{{1}}})
	writeNPY(t, path("labels3.npy"), []int64{2, 0, 1})
	writeNPY(t, path("labels3i32.npy"), []int32{2, 0, 1})
	writeNPY(t, path("labels3u8.npy"), []uint8{2, 0, 1})
	writeNPY(t, path("labels2.npy"), []int64{1, 0})
	writeNPY(t, path("labels2d.npy"), [][]int64{{1}, {0}, {1}})
	writeNPY(t, path("labelsneg.npy"), []int64{1, -1, 0})
	writeNPY(t, path("labelsf.npy"), []float32{1, 0, 0})
	if err := os.WriteFile(path("garbage.npy"), []byte("not numpy at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file cut short in its data.
	raw, err := os.ReadFile(u8NCHW)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("short.npy"), raw[:len(raw)-3], 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		data       string
		labels     string
		p          Preprocess
		wantShape  [4]int
		wantX      []float32
		wantLabels []int64
		wantErr    string
	}{
		{
			name: "uint8 NCHW scaled", data: u8NCHW, labels: path("labels3.npy"),
			wantShape:  [4]int{3, 1, 2, 2},
			wantX:      []float32{0, 0.2, 0.4, 1, 1, 0, 0, 0, 0, 0, 0, 0},
			wantLabels: []int64{2, 0, 1},
		},
		{
			name: "uint8 NCHW normalised", data: u8NCHW,
			p:         Preprocess{Mean: []float32{0.2}, Std: []float32{0.4}},
			wantShape: [4]int{3, 1, 2, 2},
			wantX:     []float32{-0.5, 0, 0.5, 2, 2, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5},
		},
		{
			name: "int32 labels", data: u8NCHW, labels: path("labels3i32.npy"),
			wantShape: [4]int{3, 1, 2, 2}, wantX: []float32{0, 0.2, 0.4, 1, 1, 0, 0, 0, 0, 0, 0, 0},
			wantLabels: []int64{2, 0, 1},
		},
		{
			name: "uint8 labels", data: u8NCHW, labels: path("labels3u8.npy"),
			wantShape: [4]int{3, 1, 2, 2}, wantX: []float32{0, 0.2, 0.4, 1, 1, 0, 0, 0, 0, 0, 0, 0},
			wantLabels: []int64{2, 0, 1},
		},
		{
			name: "NHW adds a channel", data: u8NHW, p: Preprocess{Size: 0},
			wantShape: [4]int{2, 1, 1, 3}, wantX: []float32{0, 1, 0.2, 0.4, 1, 0},
		},
		{
			name: "RGB per-channel mean and std", data: u8RGB,
			p: Preprocess{Mean: []float32{0.5, 0.25, 0}, Std: []float32{0.5, 0.25, 2}},
			// R plane 1,0,0,0; G plane 1,1,0,0; B plane 1,0.2,0.2,0.2.
			wantShape: [4]int{1, 3, 2, 2},
			wantX:     []float32{1, -1, -1, -1, 3, 3, -1, -1, 0.5, 0.1, 0.1, 0.1},
		},
		{
			name: "RGB to grayscale", data: u8RGB, p: Preprocess{Grayscale: true, Size: 2},
			wantShape: [4]int{1, 1, 2, 2},
			wantX:     []float32{1, 0.587 + 0.114*0.2, 0.114 * 0.2, 0.114 * 0.2},
		},
		{
			name: "float32 as is", data: path("f32.npy"),
			wantShape: [4]int{1, 2, 1, 2}, wantX: []float32{-1, 0.5, 2, 3},
		},
		{
			name: "float32 normalised", data: path("f32.npy"), p: Preprocess{Mean: []float32{1, 2}, Std: []float32{2}},
			wantShape: [4]int{1, 2, 1, 2}, wantX: []float32{-1, -0.25, 0, 0.5},
		},
		{
			name: "float64 converted", data: path("f64.npy"),
			wantShape: [4]int{1, 1, 1, 2}, wantX: []float32{-1, 0.5},
		},
		{name: "label count", data: u8NCHW, labels: path("labels2.npy"),
			wantErr: "Dataset.Labels: " + path("labels2.npy") + " holds 2 labels but " + u8NCHW + " holds 3 images"},
		{name: "labels 2-D", data: u8NCHW, labels: path("labels2d.npy"), wantErr: "labels of shape [3 1]: want a 1-D array"},
		{name: "labels negative", data: u8NCHW, labels: path("labelsneg.npy"), wantErr: "label -1 of image 1 is negative"},
		{name: "labels float", data: u8NCHW, labels: path("labelsf.npy"), wantErr: "labelsf.npy: dtype f4"},
		{name: "labels missing", data: u8NCHW, labels: path("nolabels.npy"), wantErr: "nolabels.npy"},
		{name: "rank 2", data: rank2, wantErr: rank2 + ": shape [2 2]: want images as NCHW (4-D) or NHW (3-D)"},
		{name: "rank 5", data: rank5, wantErr: "shape [1 1 1 1 2]"},
		{name: "int16 data", data: path("i16data.npy"), wantErr: "dtype i2: want images as uint8, float32 or float64"},
		{name: "size mismatch", data: u8NCHW, p: Preprocess{Size: 4}, wantErr: "Preprocess.Size = 4: " + u8NCHW + " holds 2×2 images"},
		{name: "resize", data: u8NCHW, p: Preprocess{Resize: 2}, wantErr: "Preprocess.Resize = 2: " + u8NCHW + " holds 2×2 images and .npy data is never resized or cropped"},
		{name: "crop mismatch", data: u8NCHW, p: Preprocess{Crop: 1}, wantErr: "Preprocess.Crop = 1: " + u8NCHW + " holds 2×2 images"},
		{name: "mean count", data: u8RGB, p: Preprocess{Mean: []float32{1, 2}}, wantErr: "Preprocess.Mean has 2 values for 3-channel images"},
		{name: "grayscale of 2 channels", data: path("f32.npy"), p: Preprocess{Grayscale: true}, wantErr: "Preprocess.Grayscale is set"},
		{name: "missing", data: path("none.npy"), wantErr: "none.npy"},
		{name: "not npy", data: path("garbage.npy"), wantErr: "garbage.npy: not a readable .npy file"},
		{name: "truncated", data: path("short.npy"), wantErr: "short.npy: file ends before its 12 elements of shape [3 1 2 2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := LoadNPY(tt.data, tt.labels, tt.p)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := [4]int{d.N, d.C, d.H, d.W}; got != tt.wantShape {
				t.Fatalf("shape %v, want %v", got, tt.wantShape)
			}
			assertClose(t, d.X, tt.wantX, 1e-6)
			if !slices.Equal(d.Labels, tt.wantLabels) {
				t.Fatalf("labels %v, want %v", d.Labels, tt.wantLabels)
			}
			if d.ClassNames != nil {
				t.Fatalf("ClassNames %v, want nil", d.ClassNames)
			}
		})
		// The same file read batch by batch, as Open reads arrays too large for memory:
		// the same checks and errors, the same images, one at a time.
		t.Run(tt.name+" in batches", func(t *testing.T) {
			src, err := openNPYDataAbove(tt.data, tt.labels, tt.p, 0)
			if tt.wantErr != "" || err != nil {
				checkErr(t, err, tt.wantErr)
				return
			}
			if _, ok := src.(*npyImages); !ok {
				t.Fatalf("Open gave a %T, want the batch-by-batch reader", src)
			}
			n, c, h, w := src.Dims()
			if got := [4]int{n, c, h, w}; got != tt.wantShape {
				t.Fatalf("shape %v, want %v", got, tt.wantShape)
			}
			var x []float32
			for i := range n {
				img := make([]float32, c*h*w)
				if err := src.ReadImages(context.Background(), i, img); err != nil {
					t.Fatal(err)
				}
				x = append(x, img...)
			}
			assertClose(t, x, tt.wantX, 1e-6)
			if !slices.Equal(src.ImageLabels(), tt.wantLabels) {
				t.Fatalf("labels %v, want %v", src.ImageLabels(), tt.wantLabels)
			}
		})
	}
}

// TestNPYInBatches reads arrays batch by batch that LoadNPY reads whole: big-endian floats,
// a NaN past the first piece of the check (reported, naming its image, before any batch),
// negative floats, and the first images alone with Head.
func TestNPYInBatches(t *testing.T) {
	dir := t.TempDir()
	// 300 images of 1×1×2 big-endian float32: image i holds i/1000 and -i/1000.
	const n = 300
	hdr := fmt.Sprintf("{'descr': '>f4', 'fortran_order': False, 'shape': (%d, 1, 1, 2), }", n)
	hdr += strings.Repeat(" ", 63-(10+len(hdr))%64) + "\n"
	raw := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	raw = append(raw, hdr...)
	want := make([]float32, 2*n)
	for i := range n {
		want[2*i], want[2*i+1] = float32(i)/1000, -float32(i)/1000
	}
	for _, v := range want {
		raw = binary.BigEndian.AppendUint32(raw, math.Float32bits(v))
	}
	big := filepath.Join(dir, "big.npy")
	if err := os.WriteFile(big, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := openNPYDataAbove(big, "", Preprocess{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 2*n)
	if err := src.ReadImages(context.Background(), 0, got); err != nil {
		t.Fatal(err)
	}
	assertClose(t, got, want, 0)
	if !src.(*npyImages).HasNegativeFloats() {
		t.Error("HasNegativeFloats = false for data with negative values")
	}
	first, err := ReadAll(context.Background(), Head(src, 10))
	if err != nil || first.N != 10 || !first.NegativeFloats {
		t.Fatalf("the first 10: %+v, %v", first, err)
	}
	assertClose(t, first.X, want[:20], 0)
	if err := src.ReadImages(context.Background(), n-1, make([]float32, 4)); err == nil {
		t.Error("reading past the last image gave no error")
	}

	// A NaN in image 280, beyond the check's first piece of 256 images.
	binary.BigEndian.PutUint32(raw[len(raw)-4*(2*(n-280)):], math.Float32bits(float32(math.NaN())))
	if err := os.WriteFile(big, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = openNPYDataAbove(big, "", Preprocess{}, 0)
	checkErr(t, err, "image 280 holds a non-finite value")

	// Below the limit, Open loads the array into memory as LoadNPY does.
	small := filepath.Join(dir, "small.npy")
	if err := SaveNPYUint8(small, []uint8{0, 255}, []int{1, 1, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if src, err := openNPYDataAbove(small, "", Preprocess{}, 1<<20); err != nil {
		t.Fatal(err)
	} else if _, ok := src.(*Dataset); !ok {
		t.Errorf("a small array opened as %T, want a *Dataset", src)
	}
}

// TestReadHugeShape checks that a header promising more data than its file
// holds is refused before anything is allocated.
func TestReadHugeShape(t *testing.T) {
	tests := []struct {
		name, shape, wantErr string
	}{
		{"too long", "(100,)", "shape [100] of i8 needs 800 bytes of data, the file has 192 in all"},
		{"too many", "(1000000000,)", "shape [1000000000] does not fit the file's 192 bytes"},
		{"overflow", "(4294967296, 4294967296, 4294967296)", "does not fit the file's"},
		{"Fortran order", "(2, 2)", "Fortran-ordered array of shape [2 2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := "False"
			if tt.name == "Fortran order" {
				order = "True"
			}
			hdr := fmt.Sprintf("{'descr': '<i8', 'fortran_order': %s, 'shape': %s, }", order, tt.shape)
			hdr += strings.Repeat(" ", 63-(10+len(hdr))%64) + "\n"
			raw := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
			raw = append(raw, hdr...)
			raw = append(raw, make([]byte, 64)...)
			path := filepath.Join(t.TempDir(), "huge.npy")
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadNPYInt64(path)
			checkErr(t, err, tt.wantErr)
		})
	}
}

func seqU8(n int) []uint8 {
	x := make([]uint8, n)
	for i := range x {
		x[i] = uint8(i * 7)
	}
	return x
}

func TestLoadNPYNegativeFloats(t *testing.T) {
	dir := t.TempDir()
	shape := []int{1, 1, 2, 2}
	u8 := filepath.Join(dir, "u8.npy")
	if err := SaveNPYUint8(u8, []uint8{0, 10, 200, 255}, shape); err != nil {
		t.Fatal(err)
	}
	pixels := filepath.Join(dir, "pixels.npy")
	if err := SaveNPYFloat32(pixels, []float32{0, 0.1, 0.8, 1}, shape); err != nil {
		t.Fatal(err)
	}
	normalised := filepath.Join(dir, "normalised.npy")
	if err := SaveNPYFloat32(normalised, []float32{-0.81, -0.5, 1.4, 2}, shape); err != nil {
		t.Fatal(err)
	}
	norm := Preprocess{Mean: []float32{0.286}, Std: []float32{0.353}}
	tests := []struct {
		name string
		path string
		p    Preprocess
		want bool
	}{
		{"uint8, normalised to negative values", u8, norm, false},
		{"float pixels in [0,1]", pixels, norm, false},
		{"float pixels, no normalisation", pixels, Preprocess{}, false},
		{"normalised floats", normalised, Preprocess{}, true},
		{"normalised floats, normalised again", normalised, norm, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := LoadNPY(tt.path, "", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if d.NegativeFloats != tt.want {
				t.Fatalf("NegativeFloats = %v, want %v", d.NegativeFloats, tt.want)
			}
		})
	}
}

// TestLoadNPYCutHeader checks that a .npy file cut short inside its header is refused with an
// error naming the file, for images and labels alike, instead of making npyio panic.
func TestLoadNPYCutHeader(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.npy")
	if err := SaveNPYUint8(full, seqU8(2*1*2*2), []int{2, 1, 2, 2}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	// The same header dict and data as versions 1, 2 and 3 (npyio writes version 2), whose
	// header length takes 2 bytes in version 1 and 4 in the others.
	hdrLen := int(binary.LittleEndian.Uint32(raw[8:12]))
	if !bytes.HasPrefix(raw, []byte("\x93NUMPY\x02\x00")) || 12+hdrLen > len(raw) {
		t.Fatalf("npyio wrote an unexpected file: %q", raw)
	}
	dict, data := raw[12:12+hdrLen], raw[12+hdrLen:]
	version := func(major byte) []byte {
		b := append([]byte("\x93NUMPY"), major, 0)
		if major == 1 {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
		} else {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(dict)))
		}
		return append(append(b, dict...), data...)
	}
	v1, v2, v3 := version(1), version(2), version(3)
	headerEnd := func(b []byte) int { return len(b) - len(data) }
	const cutShort = "not a complete .npy file (the header is cut short)"
	tests := []struct {
		name    string
		raw     []byte
		wantErr string
	}{
		{"empty", nil, " is empty: not a .npy file"},
		{"in the magic", v2[:4], ": " + cutShort},
		{"version 1, in the header length", v1[:9], ": " + cutShort},
		{"version 1, 12 bytes", v1[:12], ": " + cutShort},
		{"version 1, 50 bytes", v1[:50], ": " + cutShort},
		{"version 1, one byte short", v1[:headerEnd(v1)-1], ": " + cutShort},
		{"version 2, in the header length", v2[:10], ": " + cutShort},
		{"version 2, 12 bytes", v2[:12], ": " + cutShort},
		{"version 2, 50 bytes", v2[:50], ": " + cutShort},
		{"version 2, one byte short", v2[:headerEnd(v2)-1], ": " + cutShort},
		{"version 3, 50 bytes", v3[:50], ": " + cutShort},
		{"version 3, one byte short", v3[:headerEnd(v3)-1], ": " + cutShort},
		// Whole headers that npyio cannot parse: an error, never a panic.
		{"no newline", append(slices.Clone(v1[:headerEnd(v1)-1]), 'x'), ": not a readable .npy file"},
		{"no closing brace", []byte("\x93NUMPY\x01\x00\x40\x00{'descr': '|u1', 'fortran_order': False, 'shape': (2,)         \n"), ": not a readable .npy file"},
		{"not npy", []byte("garbage, not numpy at all"), ": not a readable .npy file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.npy")
			if err := os.WriteFile(bad, tt.raw, 0o644); err != nil {
				t.Fatal(err)
			}
			load := map[string]func() error{
				"LoadNPY images": func() error { _, err := LoadNPY(bad, "", Preprocess{}); return err },
				"LoadNPY labels": func() error { _, err := LoadNPY(full, bad, Preprocess{}); return err },
				"ReadNPYUint8":   func() error { _, _, err := ReadNPYUint8(bad); return err },
				"ReadNPYInt64":   func() error { _, _, err := ReadNPYInt64(bad); return err },
			}
			for name, f := range load {
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("%s panicked: %v", name, p)
						}
					}()
					err = f()
				}()
				checkErr(t, err, bad+tt.wantErr)
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("%s: error %q spans lines", name, err)
				}
			}
		})
	}
}

// TestLoadNPYNonFinite checks that float images holding NaN or ±Inf, or float64 values beyond
// float32's range, are refused at load time, naming the first image that holds one.
func TestLoadNPYNonFinite(t *testing.T) {
	dir := t.TempDir()
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		v       any // 3 images of 1×1×2
		wantErr string
	}{
		{"float32 finite", [][][]float32{{{0, 1}}, {{-2, 3}}, {{math.MaxFloat32, 0}}}, ""},
		{"float32 NaN", [][][]float32{{{0, 1}}, {{float32(nan), 3}}, {{0, 0}}}, "image 1 holds a non-finite value (NaN or Inf)"},
		{"float32 +Inf", [][][]float32{{{0, 1}}, {{2, 3}}, {{0, float32(inf)}}}, "image 2 holds a non-finite value (NaN or Inf)"},
		{"float32 first of two", [][][]float32{{{float32(-inf), 1}}, {{float32(nan), 3}}, {{0, 0}}}, "image 0 holds a non-finite value (NaN or Inf)"},
		{"float64 finite", [][][]float64{{{0, 1}}, {{-2, 3}}, {{4, 5}}}, ""},
		{"float64 NaN", [][][]float64{{{0, 1}}, {{2, 3}}, {{nan, 0}}}, "image 2 holds a non-finite value (NaN or Inf)"},
		{"float64 -Inf", [][][]float64{{{0, -inf}}, {{2, 3}}, {{0, 0}}}, "image 0 holds a non-finite value (NaN or Inf)"},
		{"float64 beyond float32", [][][]float64{{{0, 1}}, {{1e300, 3}}, {{0, 0}}}, "image 1 holds 1e+300, beyond float32's range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".npy")
			writeNPY(t, path, tt.v)
			want := tt.wantErr
			if want != "" {
				want = path + ": " + want
			}
			_, err := LoadNPY(path, "", Preprocess{})
			checkErr(t, err, want)
		})
	}
}

// TestLoadNPYLabelErrors checks that errors about the labels file are *option.Error named
// Dataset.Labels, so that a front end attributes them to its labels flag, not its data flag.
func TestLoadNPYLabelErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.npy")
	if err := SaveNPYUint8(data, seqU8(3*4), []int{3, 2, 2}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		labels  any
		wantErr string
	}{
		{"too few", []int64{1, 0}, "Dataset.Labels: %s holds 2 labels but " + data + " holds 3 images"},
		{"too many", []int64{1, 0, 2, 2}, "Dataset.Labels: %s holds 4 labels but " + data + " holds 3 images"},
		{"negative", []int64{1, -1, 0}, "Dataset.Labels: %s: label -1 of image 1 is negative"},
		{"2-D", [][]int64{{1}, {0}, {1}}, "Dataset.Labels: %s: labels of shape [3 1]: want a 1-D array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".npy")
			writeNPY(t, labels, tt.labels)
			_, err := LoadNPY(data, labels, Preprocess{})
			checkErr(t, err, fmt.Sprintf(tt.wantErr, labels))
			var bad *option.Error
			if !errors.As(err, &bad) || bad.Name != "Dataset.Labels" {
				t.Fatalf("error %q is not an *option.Error named Dataset.Labels (got %+v)", err, bad)
			}
		})
	}
}

// Bytes after the data the header describes mean the header is not the data's (a malformed
// shape read short, or something appended): refused, not read as a smaller array.
func TestLoadNPYTrailingBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := SaveNPYUint8(path, make([]uint8, 2*1*2*2), []int{2, 1, 2, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNPY(path, "", Preprocess{}); err != nil {
		t.Fatalf("the file as written: %v", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{1, 2, 3})
	f.Close()
	if _, err := LoadNPY(path, "", Preprocess{}); err == nil || !strings.Contains(err.Error(), "11 follow the header") {
		t.Errorf("LoadNPY with 3 bytes appended: %v, want an error saying 11 bytes follow the header", err)
	}
}
