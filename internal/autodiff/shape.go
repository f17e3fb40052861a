package autodiff

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// gradReshape serves every op that only changes the shape (Reshape, Flatten, Squeeze,
// Unsqueeze): the gradient is dY reshaped back. Shape-giving inputs get none.
func gradReshape(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	dx := make([]string, len(n.Inputs))
	dx[0] = b.Reshape(dy[0], b.Shape(n.Inputs[0]))
	return dx, nil
}

// gradTranspose transposes dY by the inverse permutation.
func gradTranspose(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	xs := b.Shape(n.Inputs[0])
	perm := n.AttrInts("perm", nil)
	if perm == nil {
		for i := len(xs) - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	inv := make([]int64, len(perm))
	for i, p := range perm {
		inv[p] = int64(i)
	}
	return []string{b.Transpose(dy[0], inv)}, nil
}

// gradDepthToSpace undoes the permutation: SpaceToDepth in DCR mode, whose channel order
// (row offset, column offset, channel) is DCR's; CRD's (channel, row offset, column offset)
// goes back through a Reshape and Transpose.
func gradDepthToSpace(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	bs := n.AttrInt("blocksize", 0)
	if n.AttrString("mode", "DCR") == "DCR" {
		return []string{b.Op("SpaceToDepth", []string{dy[0]}, ir.IntAttr("blocksize", bs))}, nil
	}
	ys := b.Shape(n.Outputs[0])
	if ys == nil {
		return nil, b.Err()
	}
	nb, c, h, w := ys[0], ys[1], ys[2]/bs, ys[3]/bs
	t := b.Reshape(dy[0], []int64{nb, c, h, bs, w, bs})
	t = b.Transpose(t, []int64{0, 1, 3, 5, 2, 4}) // [N, C, bs, bs, H, W]
	return []string{b.Reshape(t, []int64{nb, c * bs * bs, h, w})}, nil
}

// gradSpaceToDepth undoes the permutation: DepthToSpace in DCR mode.
func gradSpaceToDepth(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	bs := n.AttrInt("blocksize", 0)
	return []string{b.Op("DepthToSpace", []string{dy[0]}, ir.IntAttr("blocksize", bs))}, nil // DCR, the default
}

// gradConcat slices each input's part out of dY.
func gradConcat(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	ys := b.Shape(n.Outputs[0])
	if ys == nil {
		return nil, b.Err()
	}
	axis := n.AttrInt("axis", 0)
	if axis < 0 {
		axis += int64(len(ys))
	}
	dx := make([]string, len(n.Inputs))
	off := int64(0)
	for i, in := range n.Inputs {
		xs := b.Shape(in)
		if xs == nil {
			return nil, b.Err()
		}
		if need[i] {
			dx[i] = b.Slice(dy[0], []int64{off}, []int64{off + xs[axis]}, []int64{axis}, nil)
		}
		off += xs[axis]
	}
	return dx, nil
}

// gradSplit joins the outputs' gradients back along the split axis: one Concat when every
// output reaches the loss, else each present gradient padded with zeros to its place and
// summed (a Pad needs no static batch size, unlike a block of zeros).
func gradSplit(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	dx := make([]string, len(n.Inputs))
	if !need[0] {
		return dx, nil
	}
	xs := b.Shape(n.Inputs[0])
	if xs == nil {
		return nil, b.Err()
	}
	axis := n.AttrInt("axis", 0)
	if axis < 0 {
		axis += int64(len(xs))
	}
	all := true
	for _, g := range dy {
		all = all && g != ""
	}
	if all {
		dx[0] = b.Op("Concat", dy, ir.IntAttr("axis", axis))
		return dx, b.Err()
	}
	var parts []string
	off := int64(0)
	for i, y := range n.Outputs {
		ys := b.Shape(y)
		if ys == nil {
			return nil, b.Err()
		}
		if dy[i] != "" {
			pads := make([]int64, 2*len(xs))
			pads[axis], pads[len(xs)+int(axis)] = off, xs[axis]-off-ys[axis]
			parts = append(parts, b.Pad(dy[i], pads))
		}
		off += ys[axis]
	}
	if len(parts) > 0 {
		dx[0] = b.Sum(parts...)
	}
	return dx, b.Err()
}

// constInts returns the int64 values of initializer name ("" gives nil, true).
func constInts(b *Builder, name string) ([]int64, bool) {
	if name == "" {
		return nil, true
	}
	t := b.g.Initializer(name)
	if t == nil {
		return nil, false
	}
	v, err := t.Int64s()
	return v, err == nil
}

// gradSlice places dY back where Slice took it from: along axes with step s > 1 each
// element is followed by s−1 zeros (Reshape, Pad, Reshape), then one Pad (or Slice where
// the stepped span runs past the input) restores the offsets. Negative steps are not
// supported.
func gradSlice(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	var args [4][]int64
	for i := range args {
		v, ok := constInts(b, n.Input(1+i))
		if !ok {
			return nil, fmt.Errorf("input %d (%q) must be a constant", 1+i, n.Input(1+i))
		}
		args[i] = v
	}
	rs, err := ir.ResolveSlice(xs, args[0], args[1], args[2], args[3])
	if err != nil {
		return nil, err
	}
	g := dy[0]
	rank := len(xs)
	pads := make([]int64, 2*rank)
	var cropEnds []int64
	cropAxes := []int64{}
	for _, r := range rs {
		if r.Step < 0 {
			return nil, fmt.Errorf("Slice with negative steps is not supported")
		}
		if r.Len == 0 {
			return []string{b.zeros(b.DType(x), xs)}, nil
		}
		span := r.Len
		if r.Step > 1 {
			// [.., L, ..] → [.., L, 1, ..] → pad to [.., L, s, ..] → [.., L·s, ..].
			gs := b.Shape(g)
			split := append(append(append([]int64{}, gs[:r.Axis+1]...), 1), gs[r.Axis+1:]...)
			p := make([]int64, 2*(rank+1))
			p[rank+1+r.Axis+1] = r.Step - 1
			merged := append([]int64{}, gs...)
			merged[r.Axis] = r.Len * r.Step
			g = b.Reshape(b.Pad(b.Reshape(g, split), p), merged)
			span = r.Len * r.Step
		}
		room := xs[r.Axis] - r.Start
		if span > room {
			cropAxes = append(cropAxes, int64(r.Axis))
			cropEnds = append(cropEnds, room)
			span = room
		}
		pads[r.Axis] = r.Start
		pads[rank+r.Axis] = xs[r.Axis] - r.Start - span
	}
	if len(cropAxes) > 0 {
		g = b.Slice(g, make([]int64, len(cropAxes)), cropEnds, cropAxes, nil)
	}
	return padGrads(b.Pad(g, pads), len(n.Inputs)), nil
}

func padGrads(d string, inputs int) []string {
	dx := make([]string, inputs)
	dx[0] = d
	return dx
}

// gradPad (constant mode) slices the unpadded part out of dY; negative pads, which crop,
// become zero padding of the gradient. The pad value gets no gradient.
func gradPad(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	if mode := n.AttrString("mode", "constant"); mode != "constant" {
		return nil, fmt.Errorf("Pad mode %q has no gradient rule (only constant)", mode)
	}
	x := n.Inputs[0]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	rank := len(xs)
	pads, ok := constInts(b, n.Input(1))
	if !ok {
		return nil, fmt.Errorf("input 1 (%q) must be a constant", n.Input(1))
	}
	axes, ok := constInts(b, n.Input(3))
	if !ok {
		return nil, fmt.Errorf("input 3 (%q) must be a constant", n.Input(3))
	}
	if axes == nil {
		axes = iota64(0, rank)
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v do not fit axes %v", pads, axes)
	}
	begin, end := make([]int64, rank), make([]int64, rank)
	for i, a := range axes {
		if a < 0 {
			a += int64(rank)
		}
		begin[a], end[a] = pads[i], pads[i+len(axes)]
	}
	var starts, ends, sliceAxes []int64
	repad := make([]int64, 2*rank)
	for a := 0; a < rank; a++ {
		cutBegin, cutEnd := max(-begin[a], 0), max(-end[a], 0)
		if begin[a] > 0 || end[a] > 0 {
			s := max(begin[a], 0)
			starts = append(starts, s)
			ends = append(ends, s+xs[a]-cutBegin-cutEnd)
			sliceAxes = append(sliceAxes, int64(a))
		}
		repad[a], repad[rank+a] = cutBegin, cutEnd
	}
	g := dy[0]
	if len(sliceAxes) > 0 {
		g = b.Slice(g, starts, ends, sliceAxes, nil)
	}
	return padGrads(b.Pad(g, repad), len(n.Inputs)), nil
}

// gradExpand sums dY over the broadcast axes.
func gradExpand(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return padGrads(b.SumTo(dy[0], b.Shape(n.Inputs[0])), len(n.Inputs)), nil
}

// UpsampleNearest appends nearest-neighbour upsampling of x ([N, C, H, W, …]) by an integer
// factor on every spatial axis, written as Reshape → Expand → Reshape so that its gradient
// is a ReduceSum.
func UpsampleNearest(b *Builder, x string, factor int64) string {
	xs := b.Shape(x)
	if xs == nil {
		return ""
	}
	split := append([]int64{}, xs[:2]...)
	big := append([]int64{}, xs[:2]...)
	out := append([]int64{}, xs[:2]...)
	for _, d := range xs[2:] {
		split = append(split, d, 1)
		big = append(big, d, factor)
		out = append(out, d*factor)
	}
	return b.Reshape(b.Expand(b.Reshape(x, split), big), out)
}

// gradTile sums the gradient over the copies: dY of shape [r0·d0, r1·d1, …] read as
// [r0, d0, r1, d1, …] (copy index outermost on each axis, as Tile lays them out) and reduced
// over the copy axes.
func gradTile(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	xs := b.Shape(n.Inputs[0])
	if xs == nil {
		return nil, b.Err()
	}
	reps, ok := constInts(b, n.Input(1))
	if !ok {
		return nil, fmt.Errorf("input 1 (%q), the repeats, must be a constant", n.Input(1))
	}
	if len(reps) != len(xs) {
		return nil, fmt.Errorf("%d repeats for an input of rank %d", len(reps), len(xs))
	}
	split := make([]int64, 0, 2*len(xs))
	axes := make([]int64, 0, len(xs))
	unknown := 0
	for i, d := range xs {
		// One dimension not known until run time (a dynamic batch) is Reshape's -1.
		if d < 0 {
			if unknown++; unknown > 1 {
				return nil, fmt.Errorf("input 0 (%q): shape %v has more than one dimension not known", n.Inputs[0], xs)
			}
			d = -1
		}
		axes = append(axes, int64(2*i))
		split = append(split, reps[i], d)
	}
	g := b.ReduceSum(b.Reshape(dy[0], split), axes, false)
	return padGrads(g, len(n.Inputs)), nil
}

// maxGatherRuns bounds the Slice → Pad pairs one Gather's gradient may take: the rule is for
// the few fixed positions a CNN picks (an input channel, a class), not for embedding tables.
const maxGatherRuns = 64

// gradGather puts each gathered slice of dY back at its index along the axis: consecutive
// indices move as one slice, each run is padded to its place, and the runs are summed, so an
// index gathered twice receives both gradients. The indices must be a constant (torchvision's
// GoogLeNet and Inception v3 pick each input channel with x[:, c]).
func gradGather(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	dx := make([]string, len(n.Inputs))
	if !need[0] {
		return dx, nil
	}
	xs := b.Shape(n.Inputs[0])
	if xs == nil {
		return nil, b.Err()
	}
	idx, ok := constInts(b, n.Input(1))
	if !ok || len(idx) == 0 {
		return nil, fmt.Errorf("input 1 (%q), the indices, must be a non-empty constant", n.Input(1))
	}
	rank := int64(len(xs))
	axis := n.AttrInt("axis", 0)
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return nil, fmt.Errorf("axis %d out of range for input 0 of shape %v", n.AttrInt("axis", 0), xs)
	}
	size := xs[axis]
	if size < 0 {
		return nil, fmt.Errorf("input 0 (%q): the gathered axis %d of shape %v is not known before run time", n.Inputs[0], axis, xs)
	}
	// dY laid out as X with K = len(idx) in place of the gathered axis (scalar and
	// multi-dimensional indices alike); one dimension not known until run time is -1.
	flat := append([]int64{}, xs...)
	flat[axis] = int64(len(idx))
	unknown := 0
	for i, d := range flat {
		if d < 0 {
			if unknown++; unknown > 1 {
				return nil, fmt.Errorf("input 0 (%q): shape %v has more than one dimension not known", n.Inputs[0], xs)
			}
			flat[i] = -1
		}
	}
	g := b.Reshape(dy[0], flat)
	idx = append([]int64{}, idx...)
	for i, at := range idx {
		if at < -size || at >= size {
			return nil, fmt.Errorf("index %d out of range for axis %d of size %d", at, axis, size)
		}
		if at < 0 {
			idx[i] = at + size
		}
	}
	var parts []string
	for k := 0; k < len(idx); {
		at := idx[k]
		end := k + 1
		for end < len(idx) && idx[end] == at+int64(end-k) && at+int64(end-k) < size {
			end++
		}
		if len(parts) == maxGatherRuns {
			return nil, fmt.Errorf("indices %q make more than %d runs: too many for a gradient rule written as pads", n.Input(1), maxGatherRuns)
		}
		run := g
		if end-k != len(idx) {
			run = b.Slice(g, []int64{int64(k)}, []int64{int64(end)}, []int64{axis}, nil)
		}
		pads := make([]int64, 2*rank)
		pads[axis], pads[rank+axis] = at, size-at-int64(end-k)
		parts = append(parts, b.Pad(run, pads))
		k = end
	}
	dx[0] = b.Sum(parts...)
	return dx, b.Err()
}
