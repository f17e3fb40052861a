package quantizer

import (
	"fmt"
	"math"

	"github.com/sharpq/sharpq/ir"
)

// equalizePairs applies cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization
// Through Weight Equalization and Bias Correction") to every depthwise convolution followed
// by ReLU or ReLU6 and a 1×1 convolution, the pair inside each MobileNet block: output channel
// c of the depthwise layer is divided by s_c = sqrt(r1_c/r2_c) and input channel c of the 1×1
// layer multiplied by it, where r1_c and r2_c are the channels' largest weight magnitudes, so
// both end with range sqrt(r1_c·r2_c). Depthwise channels differ in range by orders of
// magnitude; a per-tensor activation quantizer between the two layers crushes the small ones,
// and equalization evens them out. The model computes the same function: ReLU commutes with a
// positive scale, and ReLU6's Clip(0, M) becomes Relu(Min(x, M/s_c)) per channel. g must be
// BN-folded with inferred shapes; equalizePairs returns the number of pairs it rescaled.
func equalizePairs(g *ir.Graph) (int, error) {
	consumers := g.Consumers()
	only := func(value string) *ir.Node {
		if cs := consumers[value]; len(cs) == 1 && !g.IsOutput(value) {
			return cs[0]
		}
		return nil
	}
	pairs := 0
	for _, dw := range append([]*ir.Node{}, g.Nodes...) {
		if dw.OpType != "Conv" {
			continue
		}
		w1 := g.Initializer(dw.Input(1))
		if w1 == nil || w1.DType != ir.Float32 || len(w1.Shape) != 4 || w1.Shape[1] != 1 || dw.AttrInt("group", 1) != w1.Shape[0] || w1.Shape[0] == 1 {
			continue // not depthwise
		}
		act := only(dw.Outputs[0])
		if act == nil || !(act.OpType == "Relu" || act.OpType == "Clip" && clipMin(g, act) == 0) {
			continue
		}
		pw := only(act.Outputs[0])
		if pw == nil || pw.OpType != "Conv" || pw.AttrInt("group", 1) != 1 {
			continue
		}
		w2 := g.Initializer(pw.Input(1))
		c := int(w1.Shape[0])
		if w2 == nil || w2.DType != ir.Float32 || len(w2.Shape) != 4 || int(w2.Shape[1]) != c || w2.Shape[2] != 1 || w2.Shape[3] != 1 {
			continue
		}
		var b1 *ir.Tensor
		if dw.Input(2) != "" {
			if b1 = g.Initializer(dw.Input(2)); b1 == nil || b1.DType != ir.Float32 {
				continue
			}
		}
		limit := math.Inf(1)
		if act.OpType == "Clip" {
			if limit = clipMax(g, act); math.IsNaN(limit) {
				continue
			}
		}
		s := equalizingScales(w1.F32, w2.F32, c)
		// The tensors may be shared with other nodes: write new ones.
		nw1, nw2 := append([]float32{}, w1.F32...), append([]float32{}, w2.F32...)
		per1, cout := len(nw1)/c, int(w2.Shape[0])
		for ch, sc := range s {
			for i := range per1 {
				nw1[ch*per1+i] = float32(float64(nw1[ch*per1+i]) / sc)
			}
			for o := range cout {
				nw2[o*c+ch] = float32(float64(nw2[o*c+ch]) * sc)
			}
		}
		dw.Inputs[1] = addTensor(g, w1.Name+"_equalized", w1.Shape, nw1)
		pw.Inputs[1] = addTensor(g, w2.Name+"_equalized", w2.Shape, nw2)
		if b1 != nil {
			nb := make([]float32, c)
			for ch, sc := range s {
				nb[ch] = float32(float64(b1.F32[ch]) / sc)
			}
			dw.Inputs[2] = addTensor(g, b1.Name+"_equalized", b1.Shape, nb)
		}
		if act.OpType == "Clip" {
			if err := perChannelClip(g, act, limit, s); err != nil {
				return pairs, err
			}
		}
		pairs++
	}
	ir.PruneDead(g)
	return pairs, nil
}

// equalizingScales returns s_c = sqrt(r1_c/r2_c) for depthwise weights w1 (c channels) and
// 1×1 weights w2 ([cout, c]); 1 where a channel is all zeros.
func equalizingScales(w1, w2 []float32, c int) []float64 {
	per1, cout := len(w1)/c, len(w2)/c
	s := make([]float64, c)
	for ch := range s {
		r1, r2 := 0.0, 0.0
		for i := range per1 {
			r1 = math.Max(r1, math.Abs(float64(w1[ch*per1+i])))
		}
		for o := range cout {
			r2 = math.Max(r2, math.Abs(float64(w2[o*c+ch])))
		}
		s[ch] = 1
		if r1 > 0 && r2 > 0 {
			s[ch] = math.Sqrt(r1 / r2)
		}
	}
	return s
}

// perChannelClip turns Clip(x, 0, limit) into Relu(Min(x, limit/s_c)) with one bound per
// channel (axis 1), the same function on the rescaled input.
func perChannelClip(g *ir.Graph, clip *ir.Node, limit float64, s []float64) error {
	bound := make([]float32, len(s))
	for ch, sc := range s {
		bound[ch] = float32(limit / sc)
	}
	bt := addTensor(g, clip.Name+"_limit", []int64{1, int64(len(s)), 1, 1}, bound)
	mid := g.UniqueName(clip.Name + "_min")
	minNode := &ir.Node{Name: mid, OpType: "Min", Inputs: []string{clip.Input(0), bt}, Outputs: []string{mid}}
	for i, n := range g.Nodes {
		if n == clip {
			g.Nodes = append(g.Nodes[:i], append([]*ir.Node{minNode}, g.Nodes[i:]...)...)
			clip.OpType, clip.Attrs, clip.Inputs = "Relu", nil, []string{mid}
			if v := g.ValueInfo[clip.Outputs[0]]; v != nil {
				g.ValueInfo[mid] = &ir.Value{Name: mid, DType: v.DType, Shape: append([]int64{}, v.Shape...)}
			}
			return nil
		}
	}
	return fmt.Errorf("quantizer: equalize: node %s not in the graph", clip.Name)
}

func addTensor(g *ir.Graph, name string, shape []int64, data []float32) string {
	t := ir.NewFloat32(g.UniqueName(name), append([]int64{}, shape...), data)
	g.AddInitializer(t)
	return t.Name
}

// clipMax returns a Clip's upper bound (input or attribute form), NaN if unknown, +Inf if
// absent.
func clipMax(g *ir.Graph, n *ir.Node) float64 {
	if a := n.Attr("max"); a != nil {
		return float64(a.F)
	}
	if n.Input(2) == "" {
		return math.Inf(1)
	}
	if t := g.Initializer(n.Input(2)); t != nil {
		if v, err := t.Float64s(); err == nil && len(v) == 1 {
			return v[0]
		}
	}
	return math.NaN()
}
