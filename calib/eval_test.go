package calib

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/testmodels"
)

// TestEvaluateLabels checks that Evaluate refuses labels the model cannot predict (negative,
// or not below its number of classes) as an *option.Error named Dataset.Labels, before any
// batch runs, instead of counting them as wrong.
func TestEvaluateLabels(t *testing.T) {
	rt := orttest.Runtime(t)
	m := testmodels.TinyResNet(1) // 1×8×8 images, 3 classes
	const n, sl = 4, 8 * 8
	x := make([]float32, n*sl)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	tests := []struct {
		name    string
		d       Dataset
		wantErr string // "" for no error; else it is about the setting its first word names
	}{
		{"labels below the classes", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, 1, 2, 2}}, ""},
		{"label = classes", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, 1, 3, 2}},
			"Dataset.Labels: label 3 of image 2 is not below the model's 3 classes"},
		{"label far above", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{57, 1, 2, 2}},
			"Dataset.Labels: label 57 of image 0 is not below the model's 3 classes"},
		{"negative label", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, -1, 2, 2}},
			"Dataset.Labels: label -1 of image 1 is negative"},
		{"labels short", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, 1}},
			"Dataset.Labels holds 2 labels for 4 images"},
		{"no labels", Dataset{N: n, C: 1, H: 8, W: 8, X: x}, "Dataset.Labels is empty"},
		{"X short", Dataset{N: n, C: 1, H: 8, W: 8, X: x[:sl], Labels: []int64{0, 1, 2, 2}},
			"Dataset.X holds 64 values for 4 images of 1×8×8 (256 values)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batches := 0
			res, err := Evaluate(context.Background(), rt, m, &tt.d, EvalOptions{Batch: 2, Progress: func(int, int) { batches++ }})
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" {
				if res.Images != n {
					t.Fatalf("evaluated %d images, want %d", res.Images, n)
				}
				return
			}
			if batches != 0 {
				t.Errorf("%d batches ran before the error", batches)
			}
			setting := strings.TrimSuffix(strings.Fields(tt.wantErr)[0], ":")
			var bad *option.Error
			if !errors.As(err, &bad) || bad.Name != setting {
				t.Errorf("error %q is not an *option.Error named %s (got %+v)", err, setting, bad)
			}
		})
	}
}

// TestEvaluateFolder evaluates an image folder read batch by batch, one batch ahead of the
// model: the same accuracy as the folder loaded into memory, for batches that do and do not
// divide the images, and for the first images alone (Head); a bad image in a later batch is
// reported by name, and a cancelled context stops the evaluation.
func TestEvaluateFolder(t *testing.T) {
	rt := orttest.Runtime(t)
	m := testmodels.TinyResNet(1) // 1×8×8 images, 3 classes
	dir := t.TempDir()
	const n = 23
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		for p := range img.Pix {
			img.Pix[p] = uint8((i*37 + p*11) % 256)
		}
		saveImage(t, dir, fmt.Sprintf("c%d/%02d.png", i%3, i), img)
	}
	p := Preprocess{Grayscale: true, Mean: []float32{0.5}, Std: []float32{0.25}}
	folder, err := OpenImageFolder(context.Background(), dir, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadImageFolder(context.Background(), dir, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 4, 23, 64} {
		want, err := Evaluate(context.Background(), rt, m, loaded, EvalOptions{Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		var seen []int
		got, err := Evaluate(context.Background(), rt, m, folder, EvalOptions{Batch: batch, Progress: func(done, _ int) { seen = append(seen, done) }})
		if err != nil {
			t.Fatal(err)
		}
		if got.Accuracy != want.Accuracy || seen[len(seen)-1] != n {
			t.Errorf("batch %d: folder %+v (progress %v), loaded %+v", batch, got.Accuracy, seen, want.Accuracy)
		}
	}
	// Ten of the 23 spread through the folder: images 0, 2, 4, 6, 9, 11, 13, 16, 18, 20.
	want, err := Evaluate(context.Background(), rt, m, loaded.Subset([]int{0, 2, 4, 6, 9, 11, 13, 16, 18, 20}), EvalOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	ten, err := OpenImageFolder(context.Background(), dir, p, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Evaluate(context.Background(), rt, m, ten, EvalOptions{Batch: 4})
	if err != nil || got.Accuracy != want.Accuracy || got.Images != 10 || ten.Listed() != n {
		t.Errorf("ten images of %d: %+v, %v; want %+v", ten.Listed(), got.Accuracy, err, want.Accuracy)
	}

	// Broken after its header was read: the read of a later batch fails, naming the file.
	writeFile(t, dir, "c1/13.png", string(pngHeader(t, 8, 8)))
	_, err = Evaluate(context.Background(), rt, m, folder, EvalOptions{Batch: 4})
	checkErr(t, err, filepath.Join("c1", "13.png"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, rt, m, loaded, EvalOptions{Batch: 4}); !errors.Is(err, context.Canceled) {
		t.Errorf("Evaluate with a cancelled context: %v, want context.Canceled", err)
	}
}

// pngHeader returns the first bytes of a w×h grey PNG: a header that decodes, then nothing.
func pngHeader(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()[:33] // signature and IHDR chunk
}

// TestPrefetcher reads a folder through the prefetcher, one batch ahead into two buffers in
// turn, and gets every image once, in order, as the folder loaded whole holds them.
func TestPrefetcher(t *testing.T) {
	dir := t.TempDir()
	const n = 11
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 3, 2))
		for p := range img.Pix {
			img.Pix[p] = uint8(i*20 + p)
		}
		saveImage(t, dir, fmt.Sprintf("c/%02d.png", i), img)
	}
	folder, err := OpenImageFolder(context.Background(), dir, Preprocess{Grayscale: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := folder.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 3, 4, 11} {
		r := newPrefetcher(context.Background(), folder, batch, 6)
		var got []float32
		for b := 0; b*batch < n; b++ {
			x, k, err := r.next()
			if err != nil {
				t.Fatal(err)
			}
			if k != min(batch, n-b*batch) || len(x) != 6*k {
				t.Fatalf("batch %d of %d: %d images, %d values", b, batch, k, len(x))
			}
			got = append(got, x...)
		}
		if _, _, err := r.next(); err == nil {
			t.Errorf("batch size %d: reading past the end gave no error", batch)
		}
		r.stop()
		assertClose(t, got, loaded.X, 0)
	}
}
