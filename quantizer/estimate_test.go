package quantizer_test

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/quantizer"
)

// Estimate times every block of the run Quantize would make: as many blocks as Quantize
// reconstructs, a time per step, and a total that grows with the steps and the images; for
// round-to-nearest it has no steps. The work folder it is given stays untouched.
func TestEstimate(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	const n = 64
	images := d.X[:n*(len(d.X)/d.N)]
	o := quantizer.Options{Bits: quantizer.DefaultBits(4, 4), BiasCorrection: true, Recon: quantizer.ReconOptions{Iters: 2000, Batch: 16, Seed: 1}}
	res, err := quantizer.Quantize(context.Background(), rt, m, images, n, quantizer.Options{Bits: o.Bits, Recon: quantizer.ReconOptions{Iters: 2, Batch: 16}})
	if err != nil {
		t.Fatal(err)
	}
	o.WorkDir = t.TempDir() + "/work"
	e, short, err := quantizer.Estimate(context.Background(), rt, m, images, n, o, 2)
	if err != nil {
		t.Fatalf("Estimate: %v", err)
	}
	t.Logf("%+v", e)
	if e.Blocks != len(res.Blocks) || !(e.StepSeconds > 0) || !(e.FixedSeconds > e.BiasSeconds) || !(e.BiasSeconds > 0) || !(e.ImageSeconds > 0) {
		t.Errorf("estimate %+v: want %d blocks and every time measured", e, len(res.Blocks))
	}
	if short == nil || short.QDQ == nil || len(short.Blocks) != e.Blocks {
		t.Errorf("the short run's result: %+v", short)
	}
	for _, c := range []struct {
		iters, images int
		want          float64
	}{
		{0, n, e.FixedSeconds},
		{10, n, e.FixedSeconds + n*e.ImageSeconds + 10*e.StepSeconds},
		{2000, 1000, e.FixedSeconds + 1000*e.ImageSeconds + 2000*e.StepSeconds},
	} {
		if got := e.Seconds(c.iters, c.images); math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("Seconds(%d, %d) = %g, want %g", c.iters, c.images, got, c.want)
		}
	}
	if _, err := os.Stat(o.WorkDir); err == nil {
		t.Errorf("Estimate created the work folder %s", o.WorkDir)
	}
	o.Recon.Iters = 0
	rtn, _, err := quantizer.Estimate(context.Background(), rt, m, images, n, o, 2)
	if err != nil {
		t.Fatalf("Estimate of round-to-nearest: %v", err)
	}
	if rtn.Blocks != 0 || rtn.StepSeconds != 0 || !(rtn.FixedSeconds > 0) {
		t.Errorf("round-to-nearest estimate %+v: want no blocks or steps, only the fixed time", rtn)
	}
}
