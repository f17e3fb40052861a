package quantizer

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/option"
)

// Bits says how many bits each kind of tensor gets. An override left at 0 takes Weight or
// Activation, so Bits{Weight: 4, Activation: 4} is every layer at W4A4; DefaultBits gives the
// paper's 8-bit first and last layers.
type Bits struct {
	Weight     int // default weight bits (2–8)
	Activation int // default activation bits (2–8)
	// FirstWeight, SecondInput, LastWeight and LastInput keep the sensitive ends of the network
	// at higher precision, as GENIE and BRECQ do: the first layer W8 with a float input, the
	// second layer's input A8, the last layer W8A8.
	FirstWeight, SecondInput, LastWeight, LastInput int
	// QuantizeInput quantizes the graph input (the first layer's input) too, at Activation bits.
	QuantizeInput bool
	// PerLayer overrides weight bits by node name.
	PerLayer map[string]int
}

// DefaultBits returns the paper's setting for W weight and A activation bits.
func DefaultBits(w, a int) Bits {
	return Bits{Weight: w, Activation: a, FirstWeight: 8, SecondInput: 8, LastWeight: 8, LastInput: 8}
}

// Validate checks every bit width is in 2–8. Errors name the field (Bits.Weight, …;
// PerLayerName for a layer's entry).
func (b Bits) Validate() error {
	check := func(name string, v int, optional bool) error {
		if optional && v == 0 {
			return nil
		}
		if v < 2 || v > 8 {
			return fmt.Errorf("quantizer: %w", option.Errorf(name, "%s = %d: sharpq supports 2 to 8 bits", v))
		}
		return nil
	}
	for _, c := range []struct {
		name string
		v    int
		opt  bool
	}{{"Bits.Weight", b.Weight, false}, {"Bits.Activation", b.Activation, false}, {"Bits.FirstWeight", b.FirstWeight, true},
		{"Bits.SecondInput", b.SecondInput, true}, {"Bits.LastWeight", b.LastWeight, true}, {"Bits.LastInput", b.LastInput, true}} {
		if err := check(c.name, c.v, c.opt); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.PerLayer)) {
		if err := check(PerLayerName(name), b.PerLayer[name], false); err != nil {
			return err
		}
	}
	return nil
}

// PerLayerName is how Validate's errors name the entry of Bits.PerLayer for the node called
// node.
func PerLayerName(node string) string { return fmt.Sprintf("Bits.PerLayer[%q]", node) }

// WeightQuant is the quantizer of one layer's weight: per output channel, on the unsigned grid
// [0, 2^Bits−1] with a zero point (asymmetric) or on [−2^(Bits−1), 2^(Bits−1)−1] with zero point
// 0 (symmetric). q = clip(floor(w/s) + h + z), where h is the rounding decision (1 = up) and
// floor(w/s) is Base once reconstruction has run.
type WeightQuant struct {
	Node      string    // the Conv/Gemm/MatMul node
	Weight    string    // its weight initializer
	Bits      int       // grid bit width, 2–8
	Symmetric bool      // signed grid with zero point 0, instead of unsigned with a zero point
	Scale     []float32 // per output channel
	Zero      []float32 // per output channel, an integer on the grid (0 when symmetric)
	// Round holds AdaRound's logits V, one per weight element; h = 1 where V ≥ 0. Nil means
	// round to nearest. After FlexRound it is all negative and Base holds the integers.
	Round []float32
	// Base, when set (with Round), is the integer part floor(w/s₀) taken at the scale s₀
	// reconstruction started from and then kept (GENIE-M): the learned Scale rescales a fixed
	// integer grid instead of moving weights across it. Nil means floor(w/Scale).
	Base []float32
	// Bias, when set, is the layer's bias as reconstruction learned it (ReconOptions.LRBias);
	// nil means the model's own. Biases stay float (or int32 at s_x·s_w), so a learned one
	// costs nothing in the exported model.
	Bias []float32
}

// Grid returns the smallest and largest integer of the weight grid.
func (q *WeightQuant) Grid() (lo, hi float64) {
	if q.Symmetric {
		return -math.Exp2(float64(q.Bits - 1)), math.Exp2(float64(q.Bits-1)) - 1
	}
	return 0, math.Exp2(float64(q.Bits)) - 1
}

// Integers returns the weight's integers on the grid (before subtracting the zero point).
func (q *WeightQuant) Integers(w []float32) []float64 {
	lo, hi := q.Grid()
	per := len(w) / len(q.Scale)
	out := make([]float64, len(w))
	for i, v := range w {
		c := i / per
		s := float64(q.Scale[c])
		var x float64
		if q.Round != nil {
			x = math.Floor(float64(v) / s)
			if q.Base != nil {
				x = float64(q.Base[i])
			}
			if q.Round[i] >= 0 {
				x++
			}
		} else {
			x = math.RoundToEven(float64(v) / s)
		}
		out[i] = math.Min(math.Max(x+float64(q.Zero[c]), lo), hi)
	}
	return out
}

// Dequantized returns s·(q − z), the weight the quantized model computes with.
func (q *WeightQuant) Dequantized(w []float32) []float32 {
	ints := q.Integers(w)
	per := len(w) / len(q.Scale)
	out := make([]float32, len(w))
	for i, v := range ints {
		c := i / per
		out[i] = float32(float64(q.Scale[c]) * (v - float64(q.Zero[c])))
	}
	return out
}

// ActQuant is the quantizer of one activation tensor, per tensor. A value that is never
// negative (after ReLU, ReLU6…) gets an unsigned grid [0, 2^Bits−1] with zero point 0. One
// that can be negative gets a symmetric grid [−2^(Bits−1), 2^(Bits−1)−1] with zero point 0
// (Signed), or, made Asymmetric (Plan.AsymmetricActs), the unsigned grid with a zero point
// chosen with the step, as BRECQ's activation quantizers.
type ActQuant struct {
	Value      string  // the quantized value: the input of one or more layers
	Bits       int     // grid bit width, 2–8; the widest its layers ask for
	Signed     bool    // symmetric signed grid, for a value that can be negative
	Asymmetric bool    // unsigned grid with a zero point, for a value that can be negative
	Step       float32 // the grid's step (scale); 0 until initialised, learned by reconstruction
	Zero       float32 // integer-valued; 0 unless Asymmetric
}

// Grid returns the smallest and largest integer of the activation grid.
func (a *ActQuant) Grid() (lo, hi float64) {
	if a.Signed {
		return -math.Exp2(float64(a.Bits - 1)), math.Exp2(float64(a.Bits-1)) - 1
	}
	return 0, math.Exp2(float64(a.Bits)) - 1
}

// Centred returns the grid's ends minus the zero point: Step·clip(round(x/Step), lo, hi)
// with them is the quantizer, since the zero point is an integer.
func (a *ActQuant) Centred() (lo, hi float64) {
	lo, hi = a.Grid()
	return lo - float64(a.Zero), hi - float64(a.Zero)
}

// Quantize returns x after the quantizer: Step·(clip(round(x/Step) + Zero) − Zero).
func (a *ActQuant) Quantize(x float64) float64 {
	lo, hi := a.Centred()
	s := float64(a.Step)
	return s * math.Max(lo, math.Min(hi, math.RoundToEven(x/s)))
}

// AsymmetricActs gives every signed activation quantizer of p an unsigned grid with a zero
// point instead (set before initActs, which chooses the zero points).
func (p *Plan) AsymmetricActs() {
	for _, a := range p.Acts {
		if a.Signed {
			a.Signed, a.Asymmetric = false, true
		}
	}
}

// Plan is everything that makes a float model a quantized one.
type Plan struct {
	Weights []*WeightQuant // one per quantizable layer, in graph order
	Acts    []*ActQuant    // one per distinct quantized layer input, in order of first use
	// FloatResidual leaves the residual Adds reading the float value of a quantized
	// activation (the identity shortcut stays float, as in GENIE's code, where only layer
	// inputs are quantized); by default every consumer reads the quantized value.
	FloatResidual bool
}

// Weight returns the weight quantizer of node, or nil.
func (p *Plan) Weight(node string) *WeightQuant {
	for _, w := range p.Weights {
		if w.Node == node {
			return w
		}
	}
	return nil
}

// Act returns the quantizer of value, or nil.
func (p *Plan) Act(value string) *ActQuant {
	for _, a := range p.Acts {
		if a.Value == value {
			return a
		}
	}
	return nil
}

// newPlan places quantizers on a BN-folded, static-shape graph: one weight quantizer per
// quantizable layer and one activation quantizer per distinct layer input, with the bit widths
// b gives. Steps and scales are zero until initialised (initWeights, initActs).
func newPlan(g *ir.Graph, b Bits, symmetric bool) (*Plan, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	var layers []*ir.Node
	for _, n := range g.Nodes {
		if IsQuantizable(g, n) {
			layers = append(layers, n)
		}
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("quantizer: the model has no Conv, Gemm or MatMul with a constant weight")
	}
	for _, name := range slices.Sorted(maps.Keys(b.PerLayer)) {
		if !slices.ContainsFunc(layers, func(n *ir.Node) bool { return n.Name == name }) {
			return nil, fmt.Errorf("quantizer: %w", option.Errorf(PerLayerName(name), "%s: the model has no quantizable layer (Conv, Gemm or MatMul with a constant weight) called %q; sharpq inspect lists them", name))
		}
	}
	producers := g.Producers()
	p := &Plan{}
	for i, n := range layers {
		wb := b.Weight
		switch {
		case i == 0 && b.FirstWeight != 0:
			wb = b.FirstWeight
		case i == len(layers)-1 && b.LastWeight != 0:
			wb = b.LastWeight
		}
		if v, ok := b.PerLayer[n.Name]; ok {
			wb = v
		}
		w := g.Initializer(n.Input(1))
		if w.DType != ir.Float32 {
			return nil, fmt.Errorf("quantizer: node %s weight %q is %s, want float32", n, w.Name, w.DType)
		}
		if n.OpType != "Conv" && !(n.OpType == "Gemm" && n.AttrInt("transB", 0) == 1) {
			return nil, fmt.Errorf("quantizer: node %s: only Conv and Gemm with transB=1 (PyTorch's Linear) are supported", n)
		}
		p.Weights = append(p.Weights, &WeightQuant{Node: n.Name, Weight: w.Name, Bits: wb, Symmetric: symmetric})

		in := n.Input(0)
		if i == 0 && !b.QuantizeInput && isModelInput(g, producers, in) {
			continue
		}
		ab := b.Activation
		switch {
		case i == 1 && b.SecondInput != 0:
			ab = b.SecondInput
		case i == len(layers)-1 && b.LastInput != 0:
			ab = b.LastInput
		}
		if a := p.Act(in); a != nil {
			if ab > a.Bits {
				a.Bits = ab // a value shared by two layers gets the wider of the two
			}
			continue
		}
		p.Acts = append(p.Acts, &ActQuant{Value: in, Bits: ab, Signed: !nonNegative(g, producers, in)})
	}
	return p, nil
}

// isModelInput reports whether value is the graph input, or computed from it alone by
// preprocessing baked into the model (adding, subtracting, multiplying or dividing by
// constants, as (x − mean)/std, or padding, transposing or reshaping it): either way the first
// layer reads the image, which stays float.
func isModelInput(g *ir.Graph, producers map[string]*ir.Node, value string) bool {
	for {
		if g.Input(value) != nil {
			return true
		}
		n := producers[value]
		if n == nil || n.Domain != "" {
			return false
		}
		switch n.OpType {
		case "Sub", "Add", "Mul", "Div", "Pad", "Transpose", "Reshape", "Cast":
		default:
			return false
		}
		next := ""
		for _, x := range n.Inputs {
			if x == "" || g.Initializer(x) != nil {
				continue
			}
			if next != "" {
				return false // two computed operands: not a constant affine map
			}
			next = x
		}
		if next == "" {
			return false
		}
		value = next
	}
}

// nonNegative reports whether value is produced by an op whose output is never negative,
// looking through shape-only ops and concatenations.
func nonNegative(g *ir.Graph, producers map[string]*ir.Node, value string) bool {
	n := producers[value]
	for n != nil {
		switch n.OpType {
		case "Relu", "Sigmoid", "Softplus":
			return true
		case "Clip":
			lo := clipMin(g, n)
			return !math.IsNaN(lo) && lo >= 0
		case "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose":
			n = producers[n.Input(0)]
		case "Concat":
			// DenseNet's and SqueezeNet's concatenations of ReLU outputs.
			for _, in := range n.Inputs {
				if !nonNegative(g, producers, in) {
					return false
				}
			}
			return len(n.Inputs) > 0
		default:
			return false
		}
	}
	return false
}

// clipMin returns a Clip's lower bound (input or attribute form), NaN if unknown.
func clipMin(g *ir.Graph, n *ir.Node) float64 {
	if a := n.Attr("min"); a != nil {
		return float64(a.F)
	}
	if t := g.Initializer(n.Input(1)); t != nil {
		if v, err := t.Float64s(); err == nil && len(v) == 1 {
			return v[0]
		}
	}
	if n.Input(1) == "" {
		return math.Inf(-1)
	}
	return math.NaN()
}

// readsFloat reports whether node n keeps reading the float value of a quantized activation.
func (p *Plan) readsFloat(n *ir.Node) bool {
	return p.FloatResidual && (n.OpType == "Add" || n.OpType == "Sum")
}

// skipped returns the nodes that must keep reading value's float version: the quantizer's
// own first node, and the residual Adds under FloatResidual.
func (p *Plan) skipped(g *ir.Graph, first *ir.Node) map[*ir.Node]bool {
	skip := map[*ir.Node]bool{first: true}
	for _, n := range g.Nodes {
		if p.readsFloat(n) {
			skip[n] = true
		}
	}
	return skip
}
