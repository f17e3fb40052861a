package calib

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadNPY feeds arbitrary bytes to the .npy readers as an image file and as a labels
// file: a file may be refused with an error, but nothing may panic, hang or allocate more
// than the file could hold (openNPY checks the header's shape against the file's size).
func FuzzLoadNPY(f *testing.F) {
	dir := f.TempDir()
	seed := func(name string, save func(path string) error) {
		path := filepath.Join(dir, name)
		if err := save(path); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	seed("u8.npy", func(p string) error { return SaveNPYUint8(p, seqU8(2*3*4*4), []int{2, 3, 4, 4}) })
	seed("f32.npy", func(p string) error { return SaveNPYFloat32(p, make([]float32, 2*4*4), []int{2, 4, 4}) })
	seed("i64.npy", func(p string) error { return SaveNPYInt64(p, []int64{0, 1, 2}, []int{3}) })

	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "x.npy")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range []Preprocess{{}, {Grayscale: true, Mean: []float32{0.5}, Std: []float32{0.25}}} {
			if d, err := LoadNPY(path, "", p); err == nil && len(d.X) != d.N*d.SampleLen() {
				t.Fatalf("%d values for %d images of %d×%d×%d", len(d.X), d.N, d.C, d.H, d.W)
			}
		}
		if x, shape, err := ReadNPYInt64(path); err == nil {
			n := 1
			for _, s := range shape {
				n *= s
			}
			if len(x) != n {
				t.Fatalf("%d labels for shape %v", len(x), shape)
			}
		}
	})
}
