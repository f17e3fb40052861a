package convert_test

import (
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/testmodels"
)

// TestEstimateMemory: the estimate walks the float model's values (TinyResNet: ten 4×8×8 maps
// from the stem to the block's last ReLU, the pooled 4 twice and 3 logits, all float32), grows
// with the batch, halves for GENIE, and BatchWithin inverts it.
func TestEstimateMemory(t *testing.T) {
	m := testmodels.TinyResNet(1)
	s := convert.Fast
	sadag, err := convert.EstimateMemory(m, s, convert.SADAG, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(4 * (10*4*8*8 + 4 + 4 + 3)); sadag.ActivationBytes != want {
		t.Errorf("activation bytes per image %d, want %d", sadag.ActivationBytes, want)
	}
	if sadag.Bytes != sadag.At(s.GenBatch, convert.SADAG) || sadag.At(64, convert.SADAG) >= sadag.Bytes {
		t.Errorf("estimate %d at batch %d, %d at 64: want it to grow with the batch", sadag.Bytes, s.GenBatch, sadag.At(64, convert.SADAG))
	}
	genie, err := convert.EstimateMemory(m, s, convert.GENIE, 1)
	if err != nil {
		t.Fatal(err)
	}
	if genie.Bytes != sadag.Bytes/2 {
		t.Errorf("GENIE estimate %d, want half of SADAG's %d", genie.Bytes, sadag.Bytes)
	}
	par, err := convert.EstimateMemory(m, s, convert.GENIE, 4)
	if err != nil {
		t.Fatal(err)
	}
	if par.Bytes != 4*genie.Bytes {
		t.Errorf("4 batches side by side: %d, want 4× %d", par.Bytes, genie.Bytes)
	}
	for _, tc := range []struct {
		name   string
		e      convert.Memory
		method convert.Method
	}{{"sadag", sadag, convert.SADAG}, {"genie", genie, convert.GENIE}, {"genie ×4", par, convert.GENIE}} {
		for _, b := range []int{2, 3, 17, 100} {
			limit := tc.e.At(b, tc.method) + tc.e.PerImage/4 // a little over batch b, under b+1
			if got := tc.e.BatchWithin(limit, 128, tc.method); got != b {
				t.Errorf("%s: BatchWithin(At(%d) + a quarter image) = %d", tc.name, b, got)
			}
		}
		if got := tc.e.BatchWithin(tc.e.At(2, tc.method)-1, 128, tc.method); got != 0 {
			t.Errorf("%s: below two images' estimate BatchWithin = %d, want 0", tc.name, got)
		}
		if got := tc.e.BatchWithin(1<<50, 128, tc.method); got != 128 {
			t.Errorf("%s: plenty of memory: BatchWithin = %d, want the batch asked for", tc.name, got)
		}
	}
}
