package convert_test

import (
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/testmodels"
)

// TestEstimateMemory: the estimate walks the float model's values (TinyResNet: ten 4×8×8 maps
// from the stem to the block's last ReLU, the pooled 4 twice and 3 logits, all float32), counts
// a generator per batch synthesised at once and the generators' disk, and BatchWithin inverts
// it.
func TestEstimateMemory(t *testing.T) {
	m := testmodels.TinyResNet(1)
	s := convert.Fast()
	sadag, err := convert.EstimateMemory(m, s, convert.SADAG, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(4 * (10*4*8*8 + 4 + 4 + 3)); sadag.ActivationBytes != want {
		t.Errorf("activation bytes per image %d, want %d", sadag.ActivationBytes, want)
	}
	// The fast preset: 256 images in two batches of 128.
	one := sadag.Fixed + 128*sadag.PerImage
	if sadag.Bytes != one {
		t.Errorf("SADAG estimate %d, want one batch's refinement, %d (the generators wait on disk)", sadag.Bytes, one)
	}
	if want := 2 * sadag.Generator; sadag.Disk != want || want <= 0 {
		t.Errorf("disk for the generators %d, want two batches' %d", sadag.Disk, want)
	}
	if want := sadag.Fixed + 64*sadag.PerImage; sadag.At(64, convert.SADAG) != want {
		t.Errorf("at batch 64 (four batches): %d, want %d", sadag.At(64, convert.SADAG), want)
	}
	genie, err := convert.EstimateMemory(m, s, convert.GENIE, 1)
	if err != nil {
		t.Fatal(err)
	}
	synth := genie.SynthFixed + 128*genie.SynthPerImage
	if want := genie.Base + synth; genie.Bytes != want || genie.Disk != 0 || want >= one {
		t.Errorf("GENIE estimate %d and disk %d, want one batch's synthesis, %d (below its refinement, %d), and none", genie.Bytes, genie.Disk, want, one)
	}
	// Refinement runs the generator twice (the images and their neighbours) and two models:
	// more per weight and per image than synthesis.
	if sadag.SynthFixed >= sadag.Fixed || sadag.SynthPerImage >= sadag.PerImage {
		t.Errorf("synthesis %d + %d per image, refinement %d + %d: want synthesis the smaller", sadag.SynthFixed, sadag.SynthPerImage, sadag.Fixed, sadag.PerImage)
	}
	par, err := convert.EstimateMemory(m, s, convert.GENIE, 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := par.Base + 2*synth; par.Bytes != want {
		t.Errorf("batches side by side: %d, want the two batches at once, %d", par.Bytes, want)
	}
	for _, tc := range []struct {
		name   string
		e      convert.Memory
		method convert.Method
	}{{"sadag", sadag, convert.SADAG}, {"genie", genie, convert.GENIE}, {"genie ×4", par, convert.GENIE}} {
		for _, b := range []int{2, 3, 17, 100, 128} {
			limit := tc.e.At(b, tc.method)
			got := tc.e.BatchWithin(limit, 128, tc.method)
			if got < b || tc.e.At(got, tc.method) > limit {
				t.Errorf("%s: BatchWithin(At(%d)) = %d (estimate %d > %d)", tc.name, b, got, tc.e.At(got, tc.method), limit)
			}
			for larger := got + 1; larger <= 128; larger++ {
				if tc.e.At(larger, tc.method) <= limit {
					t.Errorf("%s: BatchWithin(At(%d)) = %d, but %d fits too", tc.name, b, got, larger)
					break
				}
			}
		}
		if got := tc.e.BatchWithin(1, 128, tc.method); got != 0 {
			t.Errorf("%s: 1 byte: BatchWithin = %d, want 0", tc.name, got)
		}
		if got := tc.e.BatchWithin(1<<50, 128, tc.method); got != 128 {
			t.Errorf("%s: plenty of memory: BatchWithin = %d, want the batch asked for", tc.name, got)
		}
	}
}
