package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/ort/orttest"
	"github.com/sharpq/sharpq/testmodels"
)

// TestWarnsOfNormalisingTwice checks the warning for already normalised float images (as
// generate writes them) given --mean/--std: once with them, not without.
func TestWarnsOfNormalisingTwice(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	pixels, shape, err := calib.ReadNPYUint8("../../testmodels/" + testmodels.SubsetImages)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	per := len(pixels) / shape[0]
	x := make([]float32, n*per)
	for i := range x {
		x[i] = (float32(pixels[i])/255 - 0.2860) / 0.3530
	}
	data, labels := filepath.Join(dir, "normalised.npy"), filepath.Join(dir, "labels.npy")
	if err := calib.SaveNPYFloat32(data, x, append([]int{n}, shape[1:]...)); err != nil {
		t.Fatal(err)
	}
	if err := calib.SaveNPYInt64(labels, make([]int64, n), []int{n}); err != nil {
		t.Fatal(err)
	}
	const warning = "looks normalised already"
	for _, tt := range []struct {
		name string
		args []string
		warn bool
	}{
		{"with --mean/--std", []string{"--mean", "0.2860", "--std", "0.3530"}, true},
		{"without", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"eval", "--model", "../../testmodels/" + testmodels.DefaultModel, "--data", data, "--labels", labels}, tt.args...)
			code, _, stderr := sharpq(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got := strings.Contains(stderr, warning); got != tt.warn {
				t.Fatalf("warning %v, want %v; stderr: %s", got, tt.warn, stderr)
			}
			if tt.warn && !strings.Contains(stderr, data) {
				t.Fatalf("the warning does not name %s: %s", data, stderr)
			}
		})
	}
}
