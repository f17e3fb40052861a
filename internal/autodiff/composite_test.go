package autodiff

import (
	"testing"

	"github.com/sharpq/sharpq/ir"
)

// TestGeneratorGrad checks a small GENIE-style generator end to end (DESIGN.md: Linear → BN
// → 2× up → Conv3×3 → BN → LeakyReLU(0.2) → 2× up → Conv3×3 → Tanh → BN without affine,
// batch statistics throughout) with respect to the latents and every parameter. Conv needs
// float32 (see conv_test.go). With nonlinear layers the step is 1e-3 (a larger one crosses
// LeakyReLU kinks); float32 rounding of the loss (~2e-5 here, the outputs being
// batch-normalised) over 2e-3 gives finite-difference noise of ~1e-2, hence a bound of 2e-2
// relative to max |fd|; a wrong rule errs by O(max |fd|).
func TestGeneratorGrad(t *testing.T) {
	const n, zdim, c0, c1, hw = 4, 6, 4, 3, 2
	tg := newGraph(ir.Float32, 13)
	z := tg.in("z", n, zdim)
	fcW, fcB := tg.in("fc_w", c0*hw*hw, zdim), tg.in("fc_b", c0*hw*hw)
	g0, b0 := tg.in("bn0_scale", c0), tg.in("bn0_bias", c0)
	w1, bias1 := tg.in("conv1_w", c1, c0, 3, 3), tg.in("conv1_b", c1)
	g1, b1 := tg.in("bn1_scale", c1), tg.in("bn1_bias", c1)
	w2, bias2 := tg.in("conv2_w", 1, c1, 3, 3), tg.in("conv2_b", 1)
	if err := ir.InferShapes(tg.m); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(tg.m)
	pad := ir.IntsAttr("pads", 1, 1, 1, 1)
	x := b.Op("Gemm", []string{z, fcW, fcB}, ir.IntAttr("transB", 1))
	x = BatchNormTrain(b, b.Reshape(x, []int64{n, c0, hw, hw}), g0, b0, 1e-5)
	x = b.Op("Conv", []string{UpsampleNearest(b, x, 2), w1, bias1}, pad)
	x = b.Op("LeakyRelu", []string{BatchNormTrain(b, x, g1, b1, 1e-5)}, ir.FloatAttr("alpha", 0.2))
	x = b.Op("Conv", []string{UpsampleNearest(b, x, 2), w2, bias2}, pad)
	y := BatchNormTrain(b, b.Op("Tanh", []string{x}), "", "", 1e-5)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	checkGrad(t, tg, y, fdOpts{eps: 1e-3, tol: 2e-2})
}
