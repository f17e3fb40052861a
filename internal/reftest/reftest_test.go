package reftest

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"codeberg.org/sbinet/npyio"
)

func TestRelErr(t *testing.T) {
	tests := []struct {
		got, want []float32
		rel       float64
	}{
		{[]float32{1, 2, 2}, []float32{1, 2, 2}, 0},
		{[]float32{1, 2, 2}, []float32{0, 0, 3}, math.Sqrt(6) / 3},
		{[]float32{3, 4, 99}, []float32{0, 0}, math.Inf(1)}, // extra elements of got are ignored
	}
	for _, tc := range tests {
		if got := RelErr(tc.got, tc.want); math.Abs(got-tc.rel) > 1e-12 && !(math.IsInf(tc.rel, 1) && math.IsInf(got, 1)) {
			t.Errorf("RelErr(%v, %v) = %v, want %v", tc.got, tc.want, got, tc.rel)
		}
	}
}

func TestReadNPY(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.npy")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1.5, -2, 3}
	if err := npyio.Write(f, want); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := ReadNPY(t, path)
	if len(got) != len(want) || RelErr(got, want) != 0 {
		t.Errorf("ReadNPY = %v, want %v", got, want)
	}
}
