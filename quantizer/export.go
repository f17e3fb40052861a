package quantizer

import (
	"fmt"
	"math"

	"github.com/sharpq/sharpq/ir"
)

// QDQOpset is the default-domain opset of exported models (or the model's own, when later):
// the first with int4/uint4 QuantizeLinear/DequantizeLinear.
const QDQOpset = 21

// qdqIRVersion is the IR version that introduced 4-bit types.
const qdqIRVersion = 10

// int8QDQIRVersion is the IR version of opset 13, the first with per-axis DequantizeLinear.
const int8QDQIRVersion = 7

// replaceUses makes every consumer of value (except skip) read repl instead.
func replaceUses(g *ir.Graph, value, repl string, skip map[*ir.Node]bool) {
	for _, n := range g.Nodes {
		if skip[n] {
			continue
		}
		for i, in := range n.Inputs {
			if in == value {
				n.Inputs[i] = repl
			}
		}
	}
}

// insertAfter places nodes right after the producer of value (or first, for graph inputs),
// keeping the graph topologically ordered.
func insertAfter(g *ir.Graph, value string, nodes ...*ir.Node) {
	at := 0
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == value {
				at = i + 1
			}
		}
	}
	rest := append([]*ir.Node{}, g.Nodes[at:]...)
	g.Nodes = append(append(g.Nodes[:at], nodes...), rest...)
}

func scalar(g *ir.Graph, name string, v float32) string {
	n := g.UniqueName(name)
	g.AddInitializer(ir.NewFloat32(n, []int64{}, []float32{v}))
	return n
}

// simulate returns the fake-quant float model of fm under p: weights replaced by their
// dequantized values, each quantized activation x by s·clip(round(x/s), lo, hi) with ONNX's
// round-half-to-even. It is what the exported QDQ model must reproduce.
func simulate(fm *ir.Model, p *Plan) (*ir.Model, error) {
	m, err := cloneModel(fm)
	if err != nil {
		return nil, err
	}
	g := m.Graph
	for _, q := range p.Weights {
		w := g.Initializer(q.Weight)
		if w == nil || q.Scale == nil {
			return nil, fmt.Errorf("quantizer: weight %q is missing or not initialised", q.Weight)
		}
		dq := ir.NewFloat32(g.UniqueName(q.Weight+"_fakequant"), w.Shape, q.Dequantized(w.F32))
		g.AddInitializer(dq)
		for _, n := range g.Nodes {
			if n.Name != q.Node {
				continue
			}
			n.Inputs[1] = dq.Name
			if scale, ints := quantizedBias(g, p, q, n); scale != nil {
				b := make([]float32, len(ints))
				for i := range b {
					b[i] = float32(ints[i] * scale[i])
				}
				bt := ir.NewFloat32(g.UniqueName(n.Input(2)+"_fakequant"), []int64{int64(len(b))}, b)
				g.AddInitializer(bt)
				n.Inputs[2] = bt.Name
			} else {
				useLearnedBias(g, q, n)
			}
		}
	}
	for _, a := range p.Acts {
		if a.Step <= 0 {
			return nil, fmt.Errorf("quantizer: activation %q is not initialised", a.Value)
		}
		lo, hi := a.Centred()
		s := scalar(g, a.Value+"_step", a.Step)
		lov, hiv := scalar(g, a.Value+"_qmin", float32(lo)), scalar(g, a.Value+"_qmax", float32(hi))
		div, rnd, clip, out := g.UniqueName(a.Value+"_div"), g.UniqueName(a.Value+"_round"), g.UniqueName(a.Value+"_clip"), g.UniqueName(a.Value+"_fakequant")
		nodes := []*ir.Node{
			{Name: div, OpType: "Div", Inputs: []string{a.Value, s}, Outputs: []string{div}},
			{Name: rnd, OpType: "Round", Inputs: []string{div}, Outputs: []string{rnd}},
			{Name: clip, OpType: "Clip", Inputs: []string{rnd, lov, hiv}, Outputs: []string{clip}},
			{Name: out, OpType: "Mul", Inputs: []string{clip, s}, Outputs: []string{out}},
		}
		replaceUses(g, a.Value, out, p.skipped(g, nodes[0]))
		insertAfter(g, a.Value, nodes...)
	}
	ir.PruneDead(g)
	return m, nil
}

// containers returns the ONNX integer type a b-bit grid is stored in.
func container(bits int, signed bool) ir.DType {
	switch {
	case bits <= 4 && signed:
		return ir.Int4
	case bits <= 4:
		return ir.Uint4
	case signed:
		return ir.Int8
	}
	return ir.Uint8
}

func intTensor(name string, dt ir.DType, shape []int64, v []float64) *ir.Tensor {
	t := &ir.Tensor{Name: name, DType: dt, Shape: append([]int64{}, shape...)}
	for _, x := range v {
		switch dt {
		case ir.Int4, ir.Int8:
			t.I8 = append(t.I8, int8(x))
		default:
			t.U8 = append(t.U8, uint8(x))
		}
	}
	if t.I8 == nil && (dt == ir.Int4 || dt == ir.Int8) {
		t.I8 = []int8{}
	}
	if t.U8 == nil && (dt == ir.Uint4 || dt == ir.Uint8) {
		t.U8 = []uint8{}
	}
	return t
}

// exportQDQ returns the QDQ model of fm under p (DESIGN.md "QDQ output") at opset (21 or
// later); each weight an
// int4 (≤ 4 bits) or int8 initializer with a per-channel DequantizeLinear on axis 0 (2- and
// 3-bit grids stored in int4); each quantized activation QuantizeLinear → DequantizeLinear
// with a uint4/int4 or uint8/int8 zero point, preceded by a Clip to the grid below 4 bits (and
// between 5 and 7, and where a 4-bit grid is stored in 8 bits: beside a MaxPool, or sharing a
// shape with an 8-bit activation); biases stay float. metadata is added to the model's metadata_props.
//
// Below opset 21 (QDQOpset), which has no 4-bit types, grids of 4 bits or fewer are stored in
// int8/uint8 as the wider ones are: the same values.
func exportQDQ(fm *ir.Model, p *Plan, metadata []ir.KeyValue, opset int64) (*ir.Model, error) {
	m, err := cloneModel(fm)
	if err != nil {
		return nil, err
	}
	narrow := opset >= QDQOpset // int4/uint4 available
	// Operators whose form changed since the model's opset (Reduce* axes, for one) are
	// rewritten first.
	if err := ir.UpgradeOpset(m, opset); err != nil {
		return nil, fmt.Errorf("quantizer: export: %w", err)
	}
	g := m.Graph
	for _, q := range p.Weights {
		w := g.Initializer(q.Weight)
		if w == nil || q.Scale == nil {
			return nil, fmt.Errorf("quantizer: weight %q is missing or not initialised", q.Weight)
		}
		ints := q.Integers(w.F32)
		zero := make([]float64, len(q.Zero))
		for i, z := range q.Zero {
			zero[i] = float64(z)
		}
		if !q.Symmetric {
			// Move the unsigned grid [0, 2^b−1] to the signed container: q−2^(b−1), z−2^(b−1).
			off := math.Exp2(float64(q.Bits - 1))
			for i := range ints {
				ints[i] -= off
			}
			for i := range zero {
				zero[i] -= off
			}
		}
		dt := ir.Int8
		if q.Bits <= 4 && narrow {
			dt = ir.Int4
		}
		if !narrow && q.Bits <= 7 && len(zero) > 0 {
			// In int8, q − z of a grid of 7 bits or fewer fits with a zero point of 0: the same
			// values, in the form the integer kernels of every ONNX Runtime version take
			// (QLinearConv of ONNX Runtime 1.16 and earlier refuses per-channel zero points that differ).
			per := len(ints) / len(zero)
			for i := range ints {
				ints[i] -= zero[i/per]
			}
			clear(zero)
		}
		base := q.Weight + "_q"
		qt := intTensor(g.UniqueName(base), dt, w.Shape, ints)
		g.AddInitializer(qt)
		st := ir.NewFloat32(g.UniqueName(base+"_scale"), []int64{int64(len(q.Scale))}, append([]float32{}, q.Scale...))
		g.AddInitializer(st)
		zt := intTensor(g.UniqueName(base+"_zero_point"), dt, []int64{int64(len(zero))}, zero)
		g.AddInitializer(zt)
		out := g.UniqueName(q.Weight + "_dequantized")
		dq := &ir.Node{Name: out, OpType: "DequantizeLinear", Inputs: []string{qt.Name, st.Name, zt.Name}, Outputs: []string{out}, Attrs: []ir.Attr{ir.IntAttr("axis", 0)}}
		for i, n := range g.Nodes {
			if n.Name != q.Node {
				continue
			}
			n.Inputs[1] = out
			pre := []*ir.Node{dq}
			if scale, ints := quantizedBias(g, p, q, n); scale != nil {
				bq := intTensor32(g.UniqueName(n.Input(2)+"_q"), ints)
				g.AddInitializer(bq)
				sc := make([]float32, len(scale))
				for i, v := range scale {
					sc[i] = float32(v)
				}
				bs := ir.NewFloat32(g.UniqueName(n.Input(2)+"_q_scale"), []int64{int64(len(sc))}, sc)
				g.AddInitializer(bs)
				bout := g.UniqueName(n.Input(2) + "_dequantized")
				pre = append(pre, &ir.Node{Name: bout, OpType: "DequantizeLinear", Inputs: []string{bq.Name, bs.Name}, Outputs: []string{bout}, Attrs: []ir.Attr{ir.IntAttr("axis", 0)}})
				n.Inputs[2] = bout
			} else {
				useLearnedBias(g, q, n)
			}
			g.Nodes = append(g.Nodes[:i], append(pre, g.Nodes[i:]...)...)
			break
		}
	}
	producers, consumers := g.Producers(), g.Consumers()
	stored := make([]int, len(p.Acts))
	for i, a := range p.Acts {
		if a.Step <= 0 {
			return nil, fmt.Errorf("quantizer: activation %q is not initialised", a.Value)
		}
		stored[i] = a.Bits
		if a.Bits <= 4 && (!narrow || besideMaxPool(a.Value, producers, consumers)) {
			stored[i] = 8
		}
	}
	// Widening one activation can expose another: repeat until no hazard is left (each
	// round only widens, so it ends).
	for {
		try, err := cloneModel(m)
		if err != nil {
			return nil, err
		}
		quantizers := insertActQuantizers(try.Graph, p, stored, !narrow)
		if !widenSharedBuffers(try.Graph, m.Graph, p.Acts, stored, quantizers) {
			m, g = try, try.Graph
			break
		}
	}
	avoidClipBeforeQuantize(g)
	ir.PruneDead(g)
	switch {
	case narrow && m.IRVersion < qdqIRVersion:
		m.IRVersion = qdqIRVersion
	case !narrow && m.IRVersion < int8QDQIRVersion:
		m.IRVersion = int8QDQIRVersion
	}
	for _, kv := range metadata {
		m.SetMetadata(kv.Key, kv.Value)
		if kv.Key == "sharpq.version" {
			m.ProducerVersion = kv.Value
		}
	}
	// The file is sharpq's now; the float model's producer stays in the graph's history only
	// as far as its metadata says.
	m.ProducerName = "sharpq"
	return m, nil
}

// insertActQuantizers puts QuantizeLinear → DequantizeLinear after each of p's activations,
// in containers of stored[i] bits, and returns each one's QuantizeLinear node.
//
// With intClip, a grid narrower than its container is clipped on the integers, between the
// QuantizeLinear and the DequantizeLinear, instead of on the float input: the same values
// (QuantizeLinear rounds, and the grid's bounds are integers), and the pattern ONNX Runtime
// fuses into its integer kernels (DequantizeLinear → Conv → QuantizeLinear) stays whole.
func insertActQuantizers(g *ir.Graph, p *Plan, stored []int, intClip bool) []*ir.Node {
	quantizers := make([]*ir.Node, len(p.Acts))
	for i, a := range p.Acts {
		lo, hi := a.Centred()
		dt := container(stored[i], a.Signed)
		var nodes []*ir.Node
		x := a.Value
		narrower := a.Bits != 4 && a.Bits != 8 || stored[i] != a.Bits
		if narrower && !intClip {
			// The container is wider than the grid: clip to the grid first.
			lov := scalar(g, a.Value+"_clip_min", float32(lo)*a.Step)
			hiv := scalar(g, a.Value+"_clip_max", float32(hi)*a.Step)
			clip := g.UniqueName(a.Value + "_grid")
			nodes = append(nodes, &ir.Node{Name: clip, OpType: "Clip", Inputs: []string{x, lov, hiv}, Outputs: []string{clip}})
			x = clip
		}
		s := scalar(g, a.Value+"_scale", a.Step)
		zp := intTensor(g.UniqueName(a.Value+"_zero_point"), dt, []int64{}, []float64{float64(a.Zero)})
		g.AddInitializer(zp)
		qn, dqn := g.UniqueName(a.Value+"_quantized"), g.UniqueName(a.Value+"_dequantized")
		quantizers[i] = &ir.Node{Name: qn, OpType: "QuantizeLinear", Inputs: []string{x, s, zp.Name}, Outputs: []string{qn}}
		nodes = append(nodes, quantizers[i])
		q := qn
		if narrower && intClip {
			lov := intTensor(g.UniqueName(a.Value+"_grid_min"), dt, []int64{}, []float64{lo + float64(a.Zero)})
			hiv := intTensor(g.UniqueName(a.Value+"_grid_max"), dt, []int64{}, []float64{hi + float64(a.Zero)})
			g.AddInitializer(lov)
			g.AddInitializer(hiv)
			q = g.UniqueName(a.Value + "_grid")
			nodes = append(nodes, &ir.Node{Name: q, OpType: "Clip", Inputs: []string{qn, lov.Name, hiv.Name}, Outputs: []string{q}})
		}
		nodes = append(nodes, &ir.Node{Name: dqn, OpType: "DequantizeLinear", Inputs: []string{q, s, zp.Name}, Outputs: []string{dqn}})
		replaceUses(g, a.Value, dqn, p.skipped(g, nodes[0]))
		insertAfter(g, a.Value, nodes...)
	}
	return quantizers
}

// besideMaxPool reports whether a MaxPool produces or reads value. ONNX Runtime 1.30's QDQ
// propagation moves a QuantizeLinear/DequantizeLinear pair across a MaxPool and then lets the
// MaxPool run on the integers, and it has no 4-bit MaxPool kernel: the session fails to load
// ("Type 'tensor(uint4)' of input parameter … of operator (MaxPool) … is invalid"). Such a
// 4-bit grid is stored in an 8-bit QuantizeLinear behind a Clip to the grid: the same values.
func besideMaxPool(value string, producers map[string]*ir.Node, consumers map[string][]*ir.Node) bool {
	if n := producers[value]; n != nil && n.OpType == "MaxPool" {
		return true
	}
	for _, n := range consumers[value] {
		if n.OpType == "MaxPool" {
			return true
		}
	}
	return false
}

// widenSharedBuffers moves into 8 bits (behind a Clip to their grid) the ≤ 4-bit activations
// whose buffer ONNX Runtime could hand to an 8-bit one, and reports whether it moved any.
// ONNX Runtime 1.30's allocation planner lets a tensor reuse a freed buffer of the same shape
// and element size, and it counts a 4-bit tensor's element size as one byte while allocating it
// packed, two elements to the byte: an 8-bit QuantizeLinear that inherits a 4-bit one's buffer
// writes twice its length and corrupts whatever the arena put next (Inception v3, where a
// MaxPool's 8-bit input has the shape of the 4-bit block output before it; without the memory
// arena the process crashes; fixed upstream by onnxruntime pull request #32611). The 4-bit
// buffer can only be free before the 8-bit QuantizeLinear runs when the 4-bit QuantizeLinear
// does not depend on the 8-bit one's output, so a 4-bit activation is moved when an 8-bit one
// of its shape (batch aside) is not among its ancestors. g is the graph with the quantizers
// (one per activation, in quantizers), plain holds the activations' shapes.
func widenSharedBuffers(g, plain *ir.Graph, acts []*ActQuant, stored []int, quantizers []*ir.Node) bool {
	key := func(name string) string {
		v := plain.ValueInfo[name]
		if v == nil || len(v.Shape) < 2 {
			return ""
		}
		return fmt.Sprint(v.Shape[1:])
	}
	consumers := g.Consumers()
	moved := false
	for j, b := range acts {
		kb := key(b.Value)
		if stored[j] <= 4 || kb == "" {
			continue
		}
		after := map[*ir.Node]bool{}
		queue := []string{quantizers[j].Outputs[0]}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for _, n := range consumers[v] {
				if !after[n] {
					after[n] = true
					queue = append(queue, n.Outputs...)
				}
			}
		}
		for i, a := range acts {
			if stored[i] <= 4 && key(a.Value) == kb && !after[quantizers[i]] {
				stored[i] = 8
				moved = true
			}
		}
	}
	return moved
}

// avoidClipBeforeQuantize rewrites a Clip that feeds a 4-bit QuantizeLinear as Max then Min.
// ONNX Runtime 1.30's Clip+QuantizeLinear fusion rejects 4-bit zero points ("Unexpected data
// type for QuantizeLinear input y_zero_point") and the session fails to load, on CPU with
// default options; Max/Min compute the same and are not fused.
func avoidClipBeforeQuantize(g *ir.Graph) {
	consumers := g.Consumers()
	var out []*ir.Node
	for _, n := range g.Nodes {
		if n.OpType != "Clip" || !feeds4BitQuantize(g, consumers[n.Outputs[0]]) {
			out = append(out, n)
			continue
		}
		x := n.Input(0)
		lo, hi := n.Input(1), n.Input(2)
		if a := n.Attr("min"); a != nil {
			lo = scalar(g, n.Name+"_min", a.F)
		}
		if a := n.Attr("max"); a != nil {
			hi = scalar(g, n.Name+"_max", a.F)
		}
		if lo != "" {
			y := g.UniqueName(n.Name + "_max")
			out = append(out, &ir.Node{Name: y, OpType: "Max", Inputs: []string{x, lo}, Outputs: []string{y}})
			x = y
		}
		if hi != "" {
			out = append(out, &ir.Node{Name: n.Name + "_min", OpType: "Min", Inputs: []string{x, hi}, Outputs: []string{n.Outputs[0]}})
		} else {
			out = append(out, &ir.Node{Name: n.Name + "_identity", OpType: "Identity", Inputs: []string{x}, Outputs: []string{n.Outputs[0]}})
		}
	}
	g.Nodes = out
}

func feeds4BitQuantize(g *ir.Graph, consumers []*ir.Node) bool {
	for _, c := range consumers {
		if c.OpType != "QuantizeLinear" {
			continue
		}
		if zp := g.Initializer(c.Input(2)); zp != nil && (zp.DType == ir.Int4 || zp.DType == ir.Uint4) {
			return true
		}
	}
	return false
}

// quantizedBias returns the int32 grid of layer n's bias when its input is quantized: integer
// inference (and ONNX Runtime, which rewrites a float bias between quantized operands this way)
// stores the bias as int32 with scale s_x·s_w[c] per output channel, so the simulation must
// round it the same way. It returns nil when the bias stays float.
func quantizedBias(g *ir.Graph, p *Plan, q *WeightQuant, n *ir.Node) (scale, ints []float64) {
	a := p.Act(n.Input(0))
	b := layerBias(g, q, n)
	if a == nil || b == nil || len(b) != len(q.Scale) {
		return nil, nil
	}
	scale = make([]float64, len(b))
	ints = make([]float64, len(b))
	for c, v := range b {
		// ONNX Runtime computes the scale in float32.
		scale[c] = float64(a.Step * q.Scale[c])
		ints[c] = math.Max(math.Min(math.RoundToEven(float64(v)/scale[c]), math.MaxInt32), math.MinInt32)
	}
	return scale, ints
}

// layerBias returns layer n's float bias: the learned one when reconstruction learned it,
// else the model's; nil when n has none.
func layerBias(g *ir.Graph, q *WeightQuant, n *ir.Node) []float32 {
	if q.Bias != nil {
		return q.Bias
	}
	if b := g.Initializer(n.Input(2)); b != nil && b.DType == ir.Float32 {
		return b.F32
	}
	return nil
}

// useLearnedBias points layer n at its learned float bias, when there is one.
func useLearnedBias(g *ir.Graph, q *WeightQuant, n *ir.Node) {
	if q.Bias == nil || n.Input(2) == "" {
		return
	}
	bt := ir.NewFloat32(g.UniqueName(n.Input(2)+"_learned"), []int64{int64(len(q.Bias))}, append([]float32{}, q.Bias...))
	g.AddInitializer(bt)
	n.Inputs[2] = bt.Name
}

func intTensor32(name string, v []float64) *ir.Tensor {
	t := &ir.Tensor{Name: name, DType: ir.Int32, Shape: []int64{int64(len(v))}}
	for _, x := range v {
		t.I32 = append(t.I32, int32(x))
	}
	return t
}
