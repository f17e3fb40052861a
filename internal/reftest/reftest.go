// Package reftest holds what tests share when they compare sharpq with the PyTorch reference
// values in ../shared/reference: reading an .npy array and measuring the relative error
// between two arrays.
package reftest

import (
	"math"
	"os"
	"testing"

	"codeberg.org/sbinet/npyio"
)

// ReadNPY reads a float32 .npy file, failing tb with the file's name if it cannot.
func ReadNPY(tb testing.TB, path string) []float32 {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var v []float32
	if err := npyio.Read(f, &v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return v
}

// RelErr returns ‖got − want‖ / ‖want‖ over the first len(want) elements, in float64.
func RelErr(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / n)
}
