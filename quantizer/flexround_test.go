package quantizer

import (
	"math"
	"slices"
	"testing"
)

// TestFlexIntegers: the exported integers divide each weight by its output channel's scale and
// by exp of its own and its input channel's log-divisors, axis 1 being the input channels.
func TestFlexIntegers(t *testing.T) {
	ln2 := float32(math.Ln2)
	ones := func(n int) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = 1
		}
		return w
	}
	tests := []struct {
		name          string
		shape         []int64
		w, scale      []float32
		logDiv, logIn []float32
		want          []float32
	}{
		{"round to nearest at zero divisors", []int64{2, 1, 1, 1}, []float32{1.4, -2.6}, []float32{1, 1}, []float32{0, 0}, []float32{0}, []float32{1, -3}},
		{"per element", []int64{1, 1, 2}, []float32{1, 1}, []float32{0.25}, []float32{0, ln2}, []float32{0}, []float32{4, 2}},
		{"per input channel, spatial 2", []int64{2, 3, 2}, ones(12), []float32{1, 0.5}, make([]float32, 12), []float32{0, ln2, -ln2},
			[]float32{1, 1, 0, 0, 2, 2, 2, 2, 1, 1, 4, 4}},
		{"depthwise: one input channel", []int64{2, 1, 2, 2}, ones(8), []float32{0.5, 0.25}, make([]float32, 8), []float32{-ln2},
			[]float32{4, 4, 4, 4, 8, 8, 8, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, round := flexIntegers(tc.w, tc.shape, tc.scale, tc.logDiv, tc.logIn)
			if !slices.Equal(base, tc.want) {
				t.Errorf("base %v, want %v", base, tc.want)
			}
			for i, r := range round {
				if r >= 0 {
					t.Fatalf("round[%d] = %v: want negative (no step up)", i, r)
				}
			}
		})
	}
}

// TestWorkShape checks the shapes reconstruction quantizes weights in: the same elements,
// no trailing 1s, the output channels first and, for FlexRound, the input channels second.
func TestWorkShape(t *testing.T) {
	for _, tc := range []struct {
		w        []int64
		want     []int64
		wantFlex []int64
	}{
		{w: []int64{10, 1280}, want: []int64{10, 1280}, wantFlex: []int64{10, 1280}},
		{w: []int64{1280, 160, 1, 1}, want: []int64{1280, 160}, wantFlex: []int64{1280, 160}},
		{w: []int64{480, 1, 3, 3}, want: []int64{480, 9}, wantFlex: []int64{480, 1, 9}},
		{w: []int64{64, 3, 7, 7}, want: []int64{64, 147}, wantFlex: []int64{64, 3, 49}},
		{w: []int64{16, 8, 3}, want: []int64{16, 24}, wantFlex: []int64{16, 8, 3}},
	} {
		if got := workShape(tc.w, AdaRound); !slices.Equal(got, tc.want) {
			t.Errorf("workShape(%v, adaround) = %v, want %v", tc.w, got, tc.want)
		}
		if got := workShape(tc.w, FlexRound); !slices.Equal(got, tc.wantFlex) {
			t.Errorf("workShape(%v, flexround) = %v, want %v", tc.w, got, tc.wantFlex)
		}
	}
}
