package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
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

// TestEvalNormalisation checks --eval-mean/--eval-std: normalised calibration floats without
// --mean/--std and uint8 test pixels in one quantize, the float model's top-1 exact.
func TestEvalNormalisation(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	pixels, shape, err := calib.ReadNPYUint8("../../testmodels/" + testmodels.SubsetImages)
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	per := len(pixels) / shape[0]
	x := make([]float32, n*per)
	for i := range x {
		x[i] = (float32(pixels[i])/255 - 0.2860) / 0.3530
	}
	data := filepath.Join(dir, "normalised.npy")
	if err := calib.SaveNPYFloat32(data, x, append([]int{n}, shape[1:]...)); err != nil {
		t.Fatal(err)
	}
	model := "../../testmodels/" + testmodels.DefaultModel
	base := []string{"quantize", "--model", model, "--calib-data", data, "--wbits", "8", "--abits", "8", "--iters", "0", "--json"}
	eval := []string{"--eval-data", "../../testmodels/" + testmodels.SubsetImages, "--eval-labels", "../../testmodels/" + testmodels.SubsetLabels}
	for _, tt := range []struct {
		name  string
		args  []string
		code  int
		float float64 // the float model's top-1 on the subset, when the run evaluates
		warn  bool
	}{
		{"--eval-mean/--eval-std", append(append([]string{}, eval...), "--eval-mean", "0.2860", "--eval-std", "0.3530"), 0, 94.6, false},
		{"--mean/--std for both", append(append([]string{}, eval...), "--mean", "0.2860", "--std", "0.3530"), 0, 94.6, true},
		{"--eval-mean without --eval-data", []string{"--eval-mean", "0.2860"}, 2, 0, false},
		{"--eval-std not a number", append(append([]string{}, eval...), "--eval-std", "x"), 2, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(append([]string{}, base...), "-o", filepath.Join(t.TempDir(), "q.onnx")), tt.args...)
			code, stdout, stderr := sharpq(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if got := strings.Contains(stderr, "looks normalised already"); got != tt.warn {
				t.Fatalf("warning %v, want %v; stderr: %s", got, tt.warn, stderr)
			}
			if tt.code != 0 {
				if !strings.Contains(stderr, "--eval-") {
					t.Fatalf("the error does not name the flag: %s", stderr)
				}
				return
			}
			var rep struct {
				Accuracy struct {
					FloatTop1 float64 `json:"float_top1"`
				} `json:"accuracy"`
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("%v: %q", err, stdout)
			}
			if rep.Accuracy.FloatTop1 != tt.float {
				t.Fatalf("float top-1 %.2f on the subset, want %.2f", rep.Accuracy.FloatTop1, tt.float)
			}
		})
	}
}

// A folder of RGB PNGs evaluates on a model that takes one channel without --grayscale: the
// images are read as grayscale, as --grayscale reads them, and score as the same images in
// the bundled array do; so do the same images framed in larger ones and cut out by --crop.
func TestFolderForGrayscaleModel(t *testing.T) {
	orttest.LibPath(t)
	model, sub, lab := "../../testmodels/"+testmodels.DefaultModel, "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels
	x, labels, h, w := subsetPixels(t, sub, lab)
	const n = 40
	// writeFolder writes the n images as RGB PNGs, each on a black canvas of canvas(i) whose
	// top-left corner it takes at (left, top).
	writeFolder := func(canvas func(i int) (cw, ch, left, top int)) string {
		dir := t.TempDir()
		for i := range n {
			cw, ch, left, top := canvas(i)
			img := image.NewNRGBA(image.Rect(0, 0, cw, ch))
			for p := range cw * ch {
				img.Pix[4*p+3] = 255
			}
			for p := range h * w {
				v := x[i*h*w+p]
				img.SetNRGBA(left+p%w, top+p/w, color.NRGBA{v, v, v, 255})
			}
			savePNG(t, filepath.Join(dir, fmt.Sprint(labels[i]), fmt.Sprintf("%03d.png", i)), img)
		}
		// Every class folder must exist for the labels to be the class indices.
		for c := range 10 {
			os.MkdirAll(filepath.Join(dir, fmt.Sprint(c)), 0o755)
		}
		return dir
	}
	dir := writeFolder(func(int) (int, int, int, int) { return w, h, 0, 0 })
	// On canvases of two sizes, where --crop finds each image: half the difference rounded
	// half to even, as torchvision's CenterCrop has it (38×35: 3 and 1.5 → 2; 37×33: 2.5 → 2
	// and 0.5 → 0).
	framed := writeFolder(func(i int) (int, int, int, int) {
		if i%2 == 0 {
			return w + 6, h + 3, 3, 2
		}
		return w + 5, h + 1, 2, 0
	})
	top1 := func(args ...string) float64 { t.Helper(); return fmnistTop1(t, model, args...) }
	folder, gray, array := top1("--data", dir), top1("--data", dir, "--grayscale"), top1("--data", sub, "--labels", lab, "--limit", fmt.Sprint(n))
	cropped := top1("--data", framed, "--crop", fmt.Sprint(w))
	if folder != gray || folder != array || cropped != array {
		t.Errorf("top-1 %.2f on the RGB folder, %.2f with --grayscale, %.2f cut out of larger images with --crop, %.2f on the same images as an array: want one figure", folder, gray, cropped, array)
	}
	// Without --crop the framed images differ in size: the error names the flags for this model.
	code, _, stderr := sharpq(t, "eval", model, "--data", framed)
	if want := fmt.Sprintf("--resize %d --crop %d", h*8/7, h); code != 2 || !strings.Contains(stderr, "images of different sizes") || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, %q: want exit 2 naming %q", code, stderr, want)
	}
}

// savePNG writes img to path as PNG, making its folder.
func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// A folder of the images themselves (no class subfolders) takes its labels from --labels, as
// ImageNet's validation set comes: a text file of NAME LABEL lines in any order, one label a
// line in name order, or an .npy array in name order all score as the same images in the
// bundled array do; a file that misses an image is refused naming it.
func TestFlatFolderLabels(t *testing.T) {
	orttest.LibPath(t)
	model, sub, lab := "../../testmodels/"+testmodels.DefaultModel, "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels
	x, labels, h, w := subsetPixels(t, sub, lab)
	const n = 40
	dir, files := t.TempDir(), t.TempDir()
	var byName, inOrder strings.Builder
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, w, h))
		copy(img.Pix, x[i*h*w:(i+1)*h*w])
		name := fmt.Sprintf("val_%03d.png", i)
		savePNG(t, filepath.Join(dir, name), img)
		fmt.Fprintf(&inOrder, "%d\n", labels[i])
	}
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&byName, "val_%03d.png %d\n", i, labels[i])
	}
	text := map[string]string{"val.txt": byName.String(), "ground_truth.txt": inOrder.String(),
		"short.txt": strings.Join(strings.SplitAfter(byName.String(), "\n")[1:], "")}
	for name, s := range text {
		if err := os.WriteFile(filepath.Join(files, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	labelsNPY := filepath.Join(files, "labels.npy")
	if err := calib.SaveNPYInt64(labelsNPY, labels[:n], []int{n}); err != nil {
		t.Fatal(err)
	}
	top1 := func(args ...string) float64 { t.Helper(); return fmnistTop1(t, model, args...) }
	array := top1("--data", sub, "--labels", lab, "--limit", fmt.Sprint(n))
	for _, file := range []string{"val.txt", "ground_truth.txt", "labels.npy"} {
		if got := top1("--data", dir, "--labels", filepath.Join(files, file)); got != array {
			t.Errorf("--labels %s: top-1 %.2f, want %.2f as on the same images in the array", file, got, array)
		}
	}
	short := filepath.Join(files, "short.txt")
	code, _, stderr := sharpq(t, "eval", model, "--data", dir, "--labels", short)
	if want := "--labels: " + short + ": no label for val_039.png"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, %q: want exit 2 with %q", code, stderr, want)
	}
}

// subsetPixels reads the bundled test images (uint8, NHW or NCHW) and their labels.
func subsetPixels(t *testing.T, images, labels string) (x []uint8, y []int64, h, w int) {
	t.Helper()
	x, shape, err := calib.ReadNPYUint8(images)
	if err != nil {
		t.Fatal(err)
	}
	if y, _, err = calib.ReadNPYInt64(labels); err != nil {
		t.Fatal(err)
	}
	return x, y, int(shape[len(shape)-2]), int(shape[len(shape)-1])
}

// fmnistTop1 runs eval --json of model with Fashion-MNIST's normalisation and args, and
// returns the top-1.
func fmnistTop1(t *testing.T, model string, args ...string) float64 {
	t.Helper()
	code, stdout, stderr := sharpq(t, append([]string{"eval", model, "--mean", "0.2860", "--std", "0.3530", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	var r evalReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	return *r.Top1
}
