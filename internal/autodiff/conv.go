package autodiff

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// window is the resolved geometry of a convolution or pooling node over r spatial axes.
type window struct {
	r                int
	kernel           []int64
	strides, dil     []int64
	pads             []int64 // begin counts of every axis, then end counts
	group            int64
	inSpatial, outSp []int64
}

// windowOf resolves n's window attributes (auto_pad included) for input x and output y.
func windowOf(b *Builder, n *ir.Node, x, y string, kernel []int64) (*window, error) {
	xs, ys := b.Shape(x), b.Shape(y)
	if xs == nil || ys == nil {
		return nil, b.Err()
	}
	r := len(xs) - 2
	if k := n.AttrInts("kernel_shape", nil); k != nil {
		kernel = k
	}
	if len(kernel) != r {
		return nil, fmt.Errorf("kernel %v does not fit input shape %v", kernel, xs)
	}
	pads, err := ir.ConvPads(n, xs[2:], kernel)
	if err != nil {
		return nil, err
	}
	w := &window{r: r, kernel: kernel, pads: pads, group: n.AttrInt("group", 1),
		strides: n.AttrInts("strides", ones(r)), dil: n.AttrInts("dilations", ones(r)),
		inSpatial: xs[2:], outSp: ys[2:]}
	return w, nil
}

func ones(r int) []int64 {
	s := make([]int64, r)
	for i := range s {
		s[i] = 1
	}
	return s
}

func iota64(from, to int) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, int64(i))
	}
	return s
}

// gradConv: dX by ConvTranspose, dW by convWeightGrad, dB by summing dY over N and space.
func gradConv(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, w := n.Inputs[0], n.Inputs[1]
	ws := b.Shape(w)
	if ws == nil {
		return nil, b.Err()
	}
	win, err := windowOf(b, n, x, n.Outputs[0], ws[2:])
	if err != nil {
		return nil, err
	}
	dx := make([]string, len(n.Inputs))
	if need[0] {
		if convBackAsConvFits(win) {
			dx[0] = convBackAsConv(b, dy[0], w, win, ws)
		} else {
			dx[0] = convTransposeBack(b, dy[0], w, win)
		}
	}
	if need[1] {
		dx[1] = convWeightGrad(b, x, dy[0], win, ws)
	}
	if len(need) > 2 && need[2] {
		dx[2] = b.ReduceSum(dy[0], append([]int64{0}, iota64(2, 2+win.r)...), false)
	}
	return dx, nil
}

// convTransposeBack maps a gradient over a window op's output back onto its input: the
// adjoint of the strided, padded, dilated window sum, as one ConvTranspose with kernel k
// (shaped [C_out, C_in/group, kernel…] like Conv's weight). output_padding (< stride)
// restores input rows the forward windows never reached; when windows reach past the padded
// input (pooling's ceil_mode) the end crop grows instead.
func convTransposeBack(b *Builder, g, k string, win *window) string {
	r := win.r
	pads := append([]int64{}, win.pads...)
	opad := make([]int64, r)
	needOpad := false
	for i := 0; i < r; i++ {
		eff := win.dil[i]*(win.kernel[i]-1) + 1
		full := win.strides[i]*(win.outSp[i]-1) + eff
		rest := win.inSpatial[i] + pads[i] + pads[i+r] - full
		if rest >= 0 {
			opad[i] = rest
			needOpad = needOpad || rest > 0
		} else {
			pads[i+r] -= rest
		}
	}
	attrs := []ir.Attr{
		ir.IntsAttr("kernel_shape", win.kernel...),
		ir.IntsAttr("strides", win.strides...),
		ir.IntsAttr("dilations", win.dil...),
		ir.IntsAttr("pads", pads...),
		ir.IntAttr("group", win.group),
	}
	if needOpad {
		attrs = append(attrs, ir.IntsAttr("output_padding", opad...))
	}
	return b.Op("ConvTranspose", []string{g, k}, attrs...)
}

// convBackAsConvFits reports whether a Conv's input gradient can be a plain Conv: stride 1
// and pads no larger than the dilated kernel's reach. ONNX Runtime's CPU Conv (MLAS, NCHWc)
// is several times faster than its ConvTranspose, which the other cases use.
func convBackAsConvFits(win *window) bool {
	for i := 0; i < win.r; i++ {
		reach := win.dil[i] * (win.kernel[i] - 1)
		if win.strides[i] != 1 || win.pads[i] > reach || win.pads[i+win.r] > reach {
			return false
		}
	}
	return true
}

// convBackAsConv computes dX for a stride-1 Conv as Conv(dY, W'), where W' swaps W's output
// and input channels within each group and flips the kernel, with pads reach − pad.
func convBackAsConv(b *Builder, g, w string, win *window, ws []int64) string {
	r := win.r
	grp := win.group
	m, cg := ws[0], ws[1]
	k := w
	if m/grp > 1 || cg > 1 {
		// [M, C/g, k…] → [g, M/g, C/g, k…] → [g, C/g, M/g, k…] → [C, M/g, k…]
		split := append([]int64{grp, m / grp, cg}, ws[2:]...)
		perm := append([]int64{0, 2, 1}, iota64(3, 3+r)...)
		k = b.Reshape(b.Transpose(b.Reshape(w, split), perm), append([]int64{grp * cg, m / grp}, ws[2:]...))
	} else {
		k = b.Reshape(w, append([]int64{grp * cg, m / grp}, ws[2:]...))
	}
	var flipAxes, starts, ends, steps []int64
	for i := 0; i < r; i++ {
		if win.kernel[i] > 1 {
			flipAxes = append(flipAxes, int64(2+i))
			starts = append(starts, -1)
			ends = append(ends, -win.kernel[i]-1)
			steps = append(steps, -1)
		}
	}
	if len(flipAxes) > 0 {
		k = b.Slice(k, starts, ends, flipAxes, steps)
	}
	pads := make([]int64, 2*r)
	for i := 0; i < r; i++ {
		reach := win.dil[i] * (win.kernel[i] - 1)
		pads[i], pads[i+r] = reach-win.pads[i], reach-win.pads[i+r]
	}
	return b.Op("Conv", []string{g, k},
		ir.IntsAttr("kernel_shape", win.kernel...),
		ir.IntsAttr("dilations", win.dil...),
		ir.IntsAttr("pads", pads...),
		ir.IntAttr("group", grp))
}

// Formulations of the Conv weight gradient; convWeightGrad picks one per layer.
const (
	// dwSwapped is one Conv over role-swapped tensors (see convWeightGradSwapped).
	dwSwapped = iota
	// dwIm2col gathers the input patches with strided Slices and contracts them with dY in
	// one MatMul (see convWeightGradIm2col).
	dwIm2col
)

// dwOverride, when non-negative, forces one formulation (tests check both).
var dwOverride = -1

// weightGradFormulation is the one place that chooses how a Conv's weight gradient is
// computed, for a layer with inChannels input channels. Measured on ORT CPU with 2 cores at
// batch 32, forward plus backward took 1.32 s (ResNet-20) and 2.02 s (MobileNetV2) with the
// swapped Conv for every layer and 0.21 s and 0.47 s with im2col. The stems are the exception
// (BenchmarkConvWeightGrad): on one to three input channels im2col's Gemms are thin ([M, C]
// per kernel offset, each streaming all of dY) and the swapped Conv is 1.7–3.2× faster
// (ResNet-18's 7×7 stem at 224×224: 0.12 s against 0.39 s), while from 8 channels up im2col
// is 1.5–2× faster.
func weightGradFormulation(win *window, inChannels int64) int {
	if dwOverride >= 0 {
		return dwOverride
	}
	if win.group == 1 && inChannels <= 3 {
		return dwSwapped
	}
	return dwIm2col
}

// convWeightGrad returns dL/dW for Y = Conv(X, W) in the formulation weightGradFormulation
// chooses.
func convWeightGrad(b *Builder, x, g string, win *window, ws []int64) string {
	xs := b.Shape(x)
	if xs == nil {
		return ""
	}
	if weightGradFormulation(win, xs[1]) == dwSwapped {
		return convWeightGradSwapped(b, x, g, win, ws)
	}
	return convWeightGradIm2col(b, x, g, win, ws)
}

// convWeightGradIm2col computes dW[m, c, k] = Σ_{n,p} dY[n, m, p]·Xpad[n, c, p·s + k·d]
// as a matrix product. X is transposed to [C, N, H, W] and padded; for each kernel offset k
// a strided Slice gives [C, N, Ho, Wo]; stacked on a new axis 1 they form the patch matrix
// [C·K, N·Ho·Wo] (per group: [g, C/g·K, N·Ho·Wo]) without transposing it. With dY as
// [g, M/g, N·Ho·Wo], dW = dY·patchesᵀ (one Gemm when g = 1, a batched MatMul otherwise).
func convWeightGradIm2col(b *Builder, x, g string, win *window, ws []int64) string {
	xs, ys := b.Shape(x), b.Shape(g)
	if xs == nil || ys == nil {
		return ""
	}
	r, grp := win.r, win.group
	nb, c, m := xs[0], xs[1], ys[1]
	if grp == c && m == c {
		// Measured on MobileNetV2 (batch 128, 2 threads): forward+backward 0.35 s this way,
		// 0.49 s with per-offset Slices, 0.58 s with im2col.
		return depthwiseWeightGradConv(b, x, g, win, ws)
	}
	swap01 := append([]int64{1, 0}, iota64(2, 2+r)...)
	xt := b.Transpose(x, swap01) // [C, N, H, W]
	pads := make([]int64, 2*(r+2))
	for i := 0; i < r; i++ {
		pads[2+i], pads[r+2+2+i] = win.pads[i], win.pads[r+i]
	}
	xp := b.Pad(xt, pads)
	ps := b.Shape(xp)
	if ps == nil {
		return ""
	}
	kcount := ir.NumElements(win.kernel)
	npix := nb * ir.NumElements(ys[2:])
	sliceShape := append([]int64{c, 1, nb}, ys[2:]...)
	var cols []string
	var gy string
	offset := make([]int64, r)
	for k := int64(0); k < kcount; k++ {
		// offset is the kernel position k in row-major order.
		rem := k
		for i := r - 1; i >= 0; i-- {
			offset[i] = rem % win.kernel[i]
			rem /= win.kernel[i]
		}
		starts, ends, steps := make([]int64, r), make([]int64, r), make([]int64, r)
		full := true
		for i := 0; i < r; i++ {
			starts[i] = offset[i] * win.dil[i]
			ends[i] = starts[i] + win.strides[i]*(ys[2+i]-1) + 1
			steps[i] = win.strides[i]
			if starts[i] != 0 || ends[i] != ps[2+i] || steps[i] != 1 {
				full = false
			}
		}
		patch := xp
		if !full {
			patch = b.Slice(xp, starts, ends, iota64(2, 2+r), steps)
		}
		if grp == 1 {
			// One Gemm per kernel offset, [M, npix]·[C, npix]ᵀ: no im2col Concat of the big
			// patches, only of the small [M, C] results.
			if gy == "" {
				gy = b.Reshape(b.Transpose(g, swap01), []int64{m, npix})
			}
			dk := b.gemm(gy, b.Reshape(patch, []int64{c, npix}), false, true, 1)
			cols = append(cols, b.Reshape(dk, []int64{m, c, 1}))
			continue
		}
		cols = append(cols, b.Reshape(patch, sliceShape))
	}
	if grp == 1 {
		dw := cols[0]
		if len(cols) > 1 {
			dw = b.Op("Concat", cols, ir.IntAttr("axis", 2)) // [M, C, K]
		}
		return b.Reshape(dw, ws)
	}
	col := cols[0]
	if len(cols) > 1 {
		col = b.Op("Concat", cols, ir.IntAttr("axis", 1)) // [C, K, N, Ho, Wo]
	}
	gy = b.Transpose(g, swap01) // [M, N, Ho, Wo]
	cg := c / grp
	colT := b.Transpose(b.Reshape(col, []int64{grp, cg * kcount, npix}), []int64{0, 2, 1})
	dw := b.Op("MatMul", []string{b.Reshape(gy, []int64{grp, m / grp, npix}), colT})
	return b.Reshape(dw, ws)
}

// depthwiseWeightGradConv computes a depthwise Conv's weight gradient as one grouped Conv with
// the roles swapped: the input, as [1, C·N, H, W], is correlated with dY, as C kernels of shape
// [N, Ho, Wo], with the forward's strides as dilations and its dilations as strides; the
// forward's pads become the Conv's pads, so nothing is copied but two transposes.
func depthwiseWeightGradConv(b *Builder, x, g string, win *window, ws []int64) string {
	r := win.r
	xs, ys := b.Shape(x), b.Shape(g)
	nb, c := xs[0], xs[1]
	swap01 := append([]int64{1, 0}, iota64(2, 2+r)...)
	in := b.Reshape(b.Transpose(x, swap01), append([]int64{1, c * nb}, xs[2:]...))
	k := b.Transpose(g, swap01) // [C, N, Ho, Wo]
	dw := b.Op("Conv", []string{in, k},
		ir.IntsAttr("kernel_shape", ys[2:]...),
		ir.IntsAttr("strides", win.dil...),
		ir.IntsAttr("dilations", win.strides...),
		ir.IntsAttr("pads", win.pads...),
		ir.IntAttr("group", c))
	got := b.Shape(dw)
	if got == nil {
		return ""
	}
	trim := false
	for i := 0; i < r; i++ {
		if got[2+i] != win.kernel[i] {
			trim = true
		}
	}
	if trim {
		// Windows past the last forward window: rows the forward never reached.
		dw = b.Slice(dw, make([]int64, r), win.kernel, iota64(2, 2+r), nil)
	}
	return b.Reshape(dw, ws)
}

// convWeightGradSwapped computes dL/dW as a Conv over role-swapped tensors. With X viewed
// as [C/g, g·N, H, W] (input channels as the batch, the batch within each group as
// channels) and dY as [M, N, Ho, Wo] kernels, Conv(group=g, strides=dilations,
// dilations=strides, same pads) gives [C/g, M, kh', kw'] with kh' >= kh, which is sliced to
// the kernel size and transposed back to W's [M, C/g, kh, kw].
func convWeightGradSwapped(b *Builder, x, g string, win *window, ws []int64) string {
	xs := b.Shape(x)
	if xs == nil {
		return ""
	}
	r, grp := win.r, win.group
	nb, c := xs[0], xs[1]
	cg := c / grp
	swap01 := append([]int64{1, 0}, iota64(2, 2+r)...)
	var xsw string
	if grp == 1 {
		xsw = b.Transpose(x, swap01)
	} else {
		split := append([]int64{nb, grp, cg}, xs[2:]...)
		perm := append([]int64{2, 1, 0}, iota64(3, 3+r)...)
		t := b.Transpose(b.Reshape(x, split), perm)
		xsw = b.Reshape(t, append([]int64{cg, grp * nb}, xs[2:]...))
	}
	gsw := b.Transpose(g, swap01)
	conv := b.Op("Conv", []string{xsw, gsw},
		ir.IntsAttr("strides", win.dil...),
		ir.IntsAttr("dilations", win.strides...),
		ir.IntsAttr("pads", win.pads...),
		ir.IntAttr("group", grp))
	cs := b.Shape(conv)
	if cs == nil {
		return ""
	}
	crop := false
	for i := 0; i < r; i++ {
		if cs[2+i] != win.kernel[i] {
			crop = true
		}
	}
	if crop {
		conv = b.Slice(conv, make([]int64, r), win.kernel, iota64(2, 2+r), nil)
	}
	return b.Transpose(conv, swap01)
}
