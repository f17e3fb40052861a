package calib

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestBatch(t *testing.T) {
	// Five images of two values each: image i holds i, i+0.5.
	d := &Dataset{N: 5, C: 2, H: 1, W: 1, Labels: []int64{0, 1, 2, 3, 4}}
	for i := range 5 {
		d.X = append(d.X, float32(i), float32(i)+0.5)
	}
	tests := []struct {
		i, size    int
		wantX      []float32
		wantLabels []int64
		wantN      int
	}{
		{0, 2, []float32{0, 0.5, 1, 1.5}, []int64{0, 1}, 2},
		{1, 2, []float32{2, 2.5, 3, 3.5}, []int64{2, 3}, 2},
		{2, 2, []float32{4, 4.5}, []int64{4}, 1},
		{3, 2, nil, nil, 0},
		{0, 10, d.X, d.Labels, 5},
	}
	for _, tt := range tests {
		x, labels, n := d.Batch(tt.i, tt.size)
		if !slices.Equal(x, tt.wantX) || !slices.Equal(labels, tt.wantLabels) || n != tt.wantN {
			t.Errorf("Batch(%d, %d) = %v, %v, %d; want %v, %v, %d", tt.i, tt.size, x, labels, n, tt.wantX, tt.wantLabels, tt.wantN)
		}
	}
	if got := d.NumBatches(2); got != 3 {
		t.Errorf("NumBatches(2) = %d, want 3", got)
	}
	// Appending to a batch must not overwrite the next image.
	x, _, _ := d.Batch(0, 1)
	_ = append(x, 99)
	if d.X[2] != 1 {
		t.Fatalf("append to a batch overwrote the dataset: %v", d.X)
	}
	unlabelled := &Dataset{N: 1, C: 1, H: 1, W: 1, X: []float32{7}}
	if _, labels, n := unlabelled.Batch(0, 4); labels != nil || n != 1 {
		t.Fatalf("unlabelled batch: labels %v, n %d; want nil, 1", labels, n)
	}
}

func TestSubset(t *testing.T) {
	d := &Dataset{N: 3, C: 1, H: 1, W: 2, X: []float32{0, 1, 2, 3, 4, 5}, Labels: []int64{7, 8, 9}, ClassNames: []string{"a"}}
	tests := []struct {
		name       string
		idx        []int
		wantX      []float32
		wantLabels []int64
	}{
		{"reorder", []int{2, 0}, []float32{4, 5, 0, 1}, []int64{9, 7}},
		{"repeat", []int{1, 1}, []float32{2, 3, 2, 3}, []int64{8, 8}},
		{"empty", nil, []float32{}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := d.Subset(tt.idx)
			if s.N != len(tt.idx) || s.C != 1 || s.H != 1 || s.W != 2 || !slices.Equal(s.ClassNames, d.ClassNames) {
				t.Fatalf("subset header %+v", s)
			}
			if !slices.Equal(s.X, tt.wantX) || !slices.Equal(s.Labels, tt.wantLabels) {
				t.Fatalf("got %v %v, want %v %v", s.X, s.Labels, tt.wantX, tt.wantLabels)
			}
		})
	}
	s := d.Subset([]int{0})
	s.X[0] = 42
	if d.X[0] != 0 {
		t.Fatal("subset shares memory with its dataset")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for an index out of range")
		}
	}()
	d.Subset([]int{3})
}

// sharedData is ../shared/data seen from this package's directory.
var sharedData = filepath.Join("..", "..", "shared", "data")

// TestFashionMNIST loads the real Fashion-MNIST test set: 10000 images
// 1×32×32 (28×28 padded with zeros), int64 labels, 1000 per class.
func TestFashionMNIST(t *testing.T) {
	data := filepath.Join(sharedData, "fmnist_test_u8.npy")
	labels := filepath.Join(sharedData, "fmnist_test_labels.npy")
	for _, p := range []string{data, labels} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("Fashion-MNIST test set absent (%v): it lives in the shared folder next to the repository", err)
		}
	}
	// The models' preprocessing (../shared/models/*.json).
	p := Preprocess{Mean: []float32{0.2860}, Std: []float32{0.3530}}
	d, err := Load(context.Background(), data, labels, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := [4]int{d.N, d.C, d.H, d.W}; got != [4]int{10000, 1, 32, 32} {
		t.Fatalf("shape %v, want [10000 1 32 32]", got)
	}
	var perClass [10]int
	for i, l := range d.Labels {
		if l < 0 || l >= 10 {
			t.Fatalf("label %d of image %d out of [0,10)", l, i)
		}
		perClass[l]++
	}
	for c, n := range perClass {
		if n != 1000 {
			t.Errorf("class %d has %d images, want 1000", c, n)
		}
	}
	// The padding is 0, normalised to (0-0.2860)/0.3530; the largest value
	// is at most (1-0.2860)/0.3530.
	m, s := p.Mean[0], p.Std[0]
	lo, hi := (0-m)/s, (1-m)/s
	if d.X[0] != lo {
		t.Errorf("corner pixel %v, want %v", d.X[0], lo)
	}
	mx := slices.Max(d.X)
	if mx > hi+1e-6 || mx < hi-0.1 {
		t.Errorf("largest value %v, want about %v", mx, hi)
	}
	if slices.Min(d.X) < lo-1e-6 {
		t.Errorf("smallest value %v below %v", slices.Min(d.X), lo)
	}

	// The committed subset (testmodels/README.md) is the first 1000.
	subX, subShape, err := ReadNPYUint8(filepath.Join("..", "testmodels", "fmnist_test1k_u8.npy"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("committed subset absent: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	subL, _, err := ReadNPYInt64(filepath.Join("..", "testmodels", "fmnist_test1k_labels.npy"))
	if err != nil {
		t.Fatal(err)
	}
	fullX, _, err := ReadNPYUint8(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(subShape, []int{1000, 1, 32, 32}) || !slices.Equal(subX, fullX[:1000*32*32]) ||
		!slices.Equal(subL, d.Labels[:1000]) {
		t.Fatalf("testmodels/fmnist_test1k_*.npy are not the first 1000 test images and labels (shape %v)", subShape)
	}
}
