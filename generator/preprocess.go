package generator

import (
	"slices"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/ir"
)

// inputNorm is normalisation baked into a model: the chain of Sub, Add, Mul and Div by
// per-channel constants its graph input goes through first, y = a·x + b per channel. The
// generator's images live in the normalised space (its last BatchNormalization has no affine
// parameters, and the image prior pulls each image to mean 0 and std 1), so such a model is fed
// the images mapped back by x = (y − b)/a: it then sees them after its own normalisation, and
// the images it is given (and the ones saved) are raw inputs, as its users feed it.
type inputNorm struct {
	a, b []float32
}

// findInputNorm returns m's baked-in normalisation over c channels, or nil when the graph
// input goes straight into a layer.
func findInputNorm(m *ir.Model, c int) *inputNorm {
	g := m.Graph
	a, b := make([]float64, c), make([]float64, c)
	for i := range a {
		a[i] = 1
	}
	consumers := g.Consumers()
	found := false
chain:
	for v := g.Inputs[0].Name; ; {
		cs := consumers[v]
		if len(cs) != 1 || g.IsOutput(v) {
			break
		}
		n := cs[0]
		if n.Domain != "" || len(n.Inputs) != 2 || n.Inputs[0] == n.Inputs[1] {
			break
		}
		first := n.Inputs[0] != v // the constant is the first operand: k − x, k / x
		k := perChannel(g.Initializer(n.Inputs[boolIndex(!first)]), c)
		if k == nil {
			break
		}
		switch {
		case n.OpType == "Add":
			for i := range b {
				b[i] += k[i]
			}
		case n.OpType == "Sub" && !first:
			for i := range b {
				b[i] -= k[i]
			}
		case n.OpType == "Sub" && first: // k − x
			for i := range b {
				a[i], b[i] = -a[i], k[i]-b[i]
			}
		case n.OpType == "Mul":
			for i := range b {
				a[i], b[i] = a[i]*k[i], b[i]*k[i]
			}
		case n.OpType == "Div" && !first && !slices.Contains(k, 0):
			for i := range b {
				a[i], b[i] = a[i]/k[i], b[i]/k[i]
			}
		default:
			break chain // not a per-channel affine step: what came before is the normalisation
		}
		found = true
		v = n.Outputs[0]
	}
	if !found {
		return nil
	}
	p := &inputNorm{a: make([]float32, c), b: make([]float32, c)}
	for i := range a {
		if a[i] == 0 {
			return nil
		}
		p.a[i], p.b[i] = float32(a[i]), float32(b[i])
	}
	return p
}

// boolIndex is 1 for true, 0 for false.
func boolIndex(v bool) int {
	if v {
		return 1
	}
	return 0
}

// perChannel returns t's values for c channels when t is one value or one per channel of an
// NCHW tensor (shape [c], [c 1 1] or [1 c 1 1]); otherwise nil.
func perChannel(t *ir.Tensor, c int) []float64 {
	if t == nil || !t.DType.IsFloat() {
		return nil
	}
	v, err := t.Float64s()
	if err != nil {
		return nil
	}
	if len(v) == 1 {
		out := make([]float64, c)
		for i := range out {
			out[i] = v[0]
		}
		return out
	}
	if len(v) != c {
		return nil
	}
	switch s := t.Shape; {
	case len(s) == 1, len(s) == 3 && s[1] == 1 && s[2] == 1, len(s) == 4 && s[0] == 1 && s[2] == 1 && s[3] == 1:
		return v
	}
	return nil
}

// toInput maps normalised images y ([N C H W]) back to the model's raw input, (y − b)/a.
func (p *inputNorm) toInput(b *autodiff.Builder, y string) string {
	c := int64(len(p.a))
	scale, shift := make([]float64, c), make([]float64, c)
	for i := range scale {
		scale[i] = 1 / float64(p.a[i])
		shift[i] = -float64(p.b[i]) / float64(p.a[i])
	}
	shape := []int64{1, c, 1, 1}
	return b.Add(b.Mul(y, b.Floats(ir.Float32, shape, scale)), b.Floats(ir.Float32, shape, shift))
}

// InputNormalisation reports normalisation baked into m (canonical, with a static input
// shape): per channel the model computes (x − mean)/std before its first layer, and synthesis
// gives it raw images. ok is false when the graph input goes straight into a layer.
func InputNormalisation(m *ir.Model) (mean, std []float32, ok bool) {
	in := m.Graph.Inputs
	if len(in) != 1 || len(in[0].Shape) != 4 || in[0].Shape[1] <= 0 {
		return nil, nil, false
	}
	p := findInputNorm(m, int(in[0].Shape[1]))
	if p == nil {
		return nil, nil, false
	}
	mean, std = make([]float32, len(p.a)), make([]float32, len(p.a))
	for i := range p.a {
		mean[i], std[i] = -p.b[i]/p.a[i], 1/p.a[i]
	}
	return mean, std, true
}
