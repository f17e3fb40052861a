package calib

import (
	"math"
	"testing"
)

func TestTopK(t *testing.T) {
	nan := float32(math.NaN())
	// Seven classes: label 6 ranks 0..6 by how many logits beat it.
	ranked := func(rank int) []float32 {
		row := make([]float32, 7)
		for j := range 6 {
			row[j] = -1
		}
		for j := range rank {
			row[j] = 1
		}
		return row
	}
	tests := []struct {
		name    string
		logits  []float32
		classes int
		labels  []int64
		want1   int
		want5   int
	}{
		{"top-1", []float32{0.1, 0.9, 0.0}, 3, []int64{1}, 1, 1},
		{"empty batch", nil, 3, nil, 0, 0},
		{"batch of two", []float32{0.1, 0.9, 0.0, 5, 1, 2}, 3, []int64{1, 2}, 1, 2},
		{"fewer than 5 classes: top-2", []float32{0.9, 0.1}, 2, []int64{1}, 0, 1},
		{"one class", []float32{3}, 1, []int64{0}, 1, 1},
		{"rank 0", ranked(0), 7, []int64{6}, 1, 1},
		{"rank 1", ranked(1), 7, []int64{6}, 0, 1},
		{"rank 4", ranked(4), 7, []int64{6}, 0, 1},
		{"rank 5", ranked(5), 7, []int64{6}, 0, 0},
		{"rank 6", ranked(6), 7, []int64{6}, 0, 0},
		{"tie: lower index wins", []float32{1, 1, 0}, 3, []int64{0}, 1, 1},
		{"tie: higher index loses", []float32{1, 1, 0}, 3, []int64{1}, 0, 1},
		{"all equal, label 5 of 6", []float32{0, 0, 0, 0, 0, 0}, 6, []int64{5}, 0, 0},
		{"all equal, label 4 of 6", []float32{0, 0, 0, 0, 0, 0}, 6, []int64{4}, 0, 1},
		{"NaN ranks last", []float32{nan, 0.5, -1}, 3, []int64{2}, 0, 1},
		{"NaN label logit", []float32{nan, -1, -2, -3, -4, -5}, 6, []int64{0}, 0, 0},
		{"NaN rows: by index", []float32{nan, nan}, 2, []int64{0}, 1, 1},
		{"infinities", []float32{float32(math.Inf(1)), float32(math.Inf(-1))}, 2, []int64{0}, 1, 1},
		{"label too large", []float32{1, 0}, 2, []int64{2}, 0, 0},
		{"label negative", []float32{1, 0}, 2, []int64{-1}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1, c5 := TopK(tt.logits, tt.classes, tt.labels)
			if c1 != tt.want1 || c5 != tt.want5 {
				t.Fatalf("TopK = %d, %d; want %d, %d", c1, c5, tt.want1, tt.want5)
			}
		})
	}
}

func TestTopKPanics(t *testing.T) {
	tests := []struct {
		name    string
		logits  []float32
		classes int
		labels  []int64
	}{
		{"short logits", []float32{1, 2, 3}, 2, []int64{0, 1}},
		{"no classes", nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			TopK(tt.logits, tt.classes, tt.labels)
		})
	}
}

func TestTally(t *testing.T) {
	var tally Tally
	if a := tally.Accuracy(); a != (Accuracy{}) {
		t.Fatalf("empty tally: %+v", a)
	}
	tally.Add([]float32{1, 0, 0, 1}, 2, []int64{0, 0}) // right, then wrong
	tally.Add([]float32{0, 1}, 2, []int64{1})          // right
	tally.Add([]float32{5, 4, 3, 2, 1, 0}, 6, []int64{5})
	want := Accuracy{Top1: 50, Top5: 75, Images: 4}
	if a := tally.Accuracy(); a != want {
		t.Fatalf("got %+v, want %+v", a, want)
	}
	if s := want.String(); s != "top-1 50.00%, top-5 75.00% (4 images)" {
		t.Fatalf("String() = %q", s)
	}
}
