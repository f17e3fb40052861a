package main

import (
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/testmodels"
)

func TestCalibrationSummary(t *testing.T) {
	tests := []struct {
		held, used     int
		spread, mirror bool
		mixtures       int
		total          int
		want           string
	}{
		{1024, 1024, false, false, 0, 1024, "calibration: 1024 images (all 1024 of c.npy)"},
		{1024, 100, false, false, 0, 100, "calibration: 100 images (the first 100 of the 1024 in c.npy)"},
		{1024, 100, true, false, 0, 100, "calibration: 100 images (100 spread through the 1024 in c.npy)"},
		{1024, 1024, true, false, 0, 1024, "calibration: 1024 images (all 1024 of c.npy)"},
		{256, 256, false, true, 0, 512, "calibration: 512 images (all 256 of c.npy and their mirrors)"},
		{256, 256, false, true, 512, 1024, "calibration: 1024 images (all 256 of c.npy, their mirrors and 512 mixtures of pairs)"},
		{1024, 100, false, false, 3, 103, "calibration: 103 images (the first 100 of the 1024 in c.npy and 3 mixtures of pairs)"},
	}
	for _, tt := range tests {
		if got := calibrationSummary("c.npy", tt.held, tt.used, tt.spread, tt.mirror, tt.mixtures, tt.total); got != tt.want {
			t.Errorf("calibrationSummary(%d, %d, %v, %v, %d, %d) = %q, want %q", tt.held, tt.used, tt.spread, tt.mirror, tt.mixtures, tt.total, got, tt.want)
		}
	}
}

// TestCalibImagesBeyondFile: asking for more calibration images than the file holds uses all
// of them and says so, rather than quietly calibrating on fewer than asked.
func TestCalibImagesBeyondFile(t *testing.T) {
	orttest.LibPath(t)
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	out := filepath.Join(t.TempDir(), "q.onnx")
	code, _, stderr := sharpq(t, "quantize", "--model", model, "--calib-data", sub, "--calib-images", "5000",
		"--mean", "0.2860", "--std", "0.3530", "--wbits", "4", "--abits", "4", "--iters", "0", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"--calib-images 5000", "holds 1000 images; using all of them", "calibration: 1000 images (all 1000 of"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestCalibImagesFromFolder: --calib-images N takes N images spread through an image folder,
// every class in proportion, and the log says so.
func TestCalibImagesFromFolder(t *testing.T) {
	orttest.LibPath(t)
	model := "../../testmodels/" + testmodels.DefaultModel
	dir := t.TempDir()
	for i := range 12 {
		img := image.NewGray(image.Rect(0, 0, 32, 32))
		for p := range img.Pix {
			img.Pix[p] = uint8(i*17 + p)
		}
		savePNG(t, filepath.Join(dir, fmt.Sprint(i/4), fmt.Sprintf("%02d.png", i)), img)
	}
	out := filepath.Join(t.TempDir(), "q.onnx")
	code, _, stderr := sharpq(t, "quantize", "--model", model, "--calib-data", dir, "--calib-images", "6",
		"--mean", "0.2860", "--std", "0.3530", "--iters", "0", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "calibration: 6 images (6 spread through the 12 in " + dir + ")"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}
