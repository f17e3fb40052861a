package quantizer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/train"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/ort"
)

// ReconOptions sets block reconstruction (GENIE-M, BRECQ-style). Zero fields take the
// paper's values (DESIGN.md), except Iters, which the caller chooses (a preset).
type ReconOptions struct {
	Iters int // Adam steps per block
	Batch int // minibatch, default 32

	LRWeightStep float64 // weight scales, default 1e-4
	LRActStep    float64 // activation steps, default 4e-5
	LRRound      float64 // AdaRound logits V (FlexRound's log-divisors L), default 1e-3
	// LRBias, when positive, learns each layer's bias too (AdaQuant's bias tuning), at this
	// Adam rate annealed along a cosine. 0 keeps the float model's biases (GENIE-M).
	LRBias float64

	// Rounding chooses how each weight's integer is learned; "" is AdaRound.
	Rounding Rounding

	RoundWeight float64 // λ of AdaRound's rounding regulariser, default 0.01
	BetaStart   float64 // default 20
	BetaEnd     float64 // default 2
	WarmUp      float64 // fraction of steps without the regulariser, default 0.2
	QDrop       float64 // probability of keeping an activation quantized, default 0.5

	Seed uint64 // seeds each block's own random stream (minibatches, QDrop masks)
	// Progress, when set, is called every ProgressEvery steps and at the end of each block.
	Progress      func(p ReconProgress)
	ProgressEvery int // steps between Progress calls; 0 is 100
	// Session configures the training sessions (threads come from the Runtime).
	Session ort.SessionConfig
	// Resume continues from a checkpoint: its blocks are not trained again, its plan values
	// replace p's. Checkpoint, when set, is called after every block; an error stops the run.
	Resume     *ReconState
	Checkpoint func(ReconState) error // receives the progress after every block
}

// Rounding is how block reconstruction learns each weight's integer.
type Rounding string

const (
	// AdaRound (GENIE-M, the default) chooses between floor(w/s₀) and the integer above it
	// through a soft, annealed decision h(V) with a regulariser that drives it to 0 or 1.
	AdaRound Rounding = "adaround"
	// FlexRound (Lee et al., ICML 2023) learns a divisor exp(L + c) per weight element, L one
	// log-divisor per element and c one per input channel (the output channel's is the learned
	// scale s): q = round(w / (s·exp(L + c))), through the straight-through rounding and
	// without a regulariser, so a weight may move by whole grid steps. It converges in fewer
	// steps than AdaRound on ResNets and fits synthetic images harder (BENCHMARKS.md).
	FlexRound Rounding = "flexround"
)

// ParseRounding returns the Rounding named s ("" is AdaRound).
func ParseRounding(s string) (Rounding, error) {
	switch r := Rounding(s); r {
	case "", AdaRound:
		return AdaRound, nil
	case FlexRound:
		return r, nil
	}
	return "", fmt.Errorf("quantizer: rounding %q: want %q or %q", s, AdaRound, FlexRound)
}

// RoundingName is what a model's metadata says of its rounding: "nearest" without
// reconstruction (iters 0), else the Rounding reconstruction used ("" is AdaRound).
func RoundingName(r Rounding, iters int) string {
	switch {
	case iters <= 0:
		return "nearest"
	case r == "":
		return string(AdaRound)
	}
	return string(r)
}

// ReconState is reconstruction's progress: the blocks done, what they measured, and the plan
// with their learned values. Every block draws from its own random stream, so a run resumed
// from a ReconState ends exactly as an uninterrupted one.
type ReconState struct {
	Blocks  int           // blocks done, the first ones in Partition's order
	Results []BlockResult // one per block done, in order
	Plan    Plan          // a snapshot of every quantizer, with the done blocks' learned values
}

// Snapshot returns a deep copy of p.
func (p *Plan) Snapshot() Plan {
	var c Plan
	for _, w := range p.Weights {
		x := *w
		x.Scale = append([]float32(nil), w.Scale...)
		x.Zero = append([]float32(nil), w.Zero...)
		x.Round = append([]float32(nil), w.Round...)
		if w.Round == nil {
			x.Round = nil
		}
		x.Base = append([]float32(nil), w.Base...)
		if w.Base == nil {
			x.Base = nil
		}
		x.Bias = append([]float32(nil), w.Bias...)
		if w.Bias == nil {
			x.Bias = nil
		}
		c.Weights = append(c.Weights, &x)
	}
	for _, a := range p.Acts {
		x := *a
		c.Acts = append(c.Acts, &x)
	}
	return c
}

// restore copies the learned values of s into p, matching quantizers by name.
func (p *Plan) restore(s *Plan) error {
	if len(s.Weights) != len(p.Weights) || len(s.Acts) != len(p.Acts) {
		return fmt.Errorf("quantizer: the checkpoint's plan has %d weight and %d activation quantizers, this run %d and %d", len(s.Weights), len(s.Acts), len(p.Weights), len(p.Acts))
	}
	for i, w := range s.Weights {
		if p.Weights[i].Node != w.Node || p.Weights[i].Bits != w.Bits {
			return fmt.Errorf("quantizer: the checkpoint quantizes %s at %d bits, this run %s at %d", w.Node, w.Bits, p.Weights[i].Node, p.Weights[i].Bits)
		}
		p.Weights[i].Scale, p.Weights[i].Zero, p.Weights[i].Round, p.Weights[i].Base, p.Weights[i].Bias = w.Scale, w.Zero, w.Round, w.Base, w.Bias
	}
	for i, a := range s.Acts {
		if p.Acts[i].Value != a.Value || p.Acts[i].Bits != a.Bits {
			return fmt.Errorf("quantizer: the checkpoint quantizes activation %s at %d bits, this run %s at %d", a.Value, a.Bits, p.Acts[i].Value, p.Acts[i].Bits)
		}
		p.Acts[i].Step = a.Step
	}
	return nil
}

// ReconProgress reports reconstruction progress.
type ReconProgress struct {
	Block, Blocks int     // the block (0-based) and the number of blocks
	Name          string  // the block's name
	Step, Steps   int     // steps done in this block (1-based) and steps per block
	Rec, Round    float64 // reconstruction loss and rounding regulariser of the last step
}

// BlockResult is what reconstruction measured for one block.
type BlockResult struct {
	Name   string `json:"name"`   // the block's name (Block.Name)
	Kind   string `json:"kind"`   // "residual" or "layer" (BlockKind)
	Layers int    `json:"layers"` // number of quantizable layers in the block
	// LossStart and LossEnd are the reconstruction loss averaged over the first and last 5% of steps.
	LossStart float64 `json:"loss_start"`
	LossEnd   float64 `json:"loss_end"` // over the last 5%; 0 for a block without quantizers
	Seconds   float64 `json:"seconds"`  // wall time of the block: float and quantized passes and training
}

func (o *ReconOptions) defaults() {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if o.Batch == 0 {
		o.Batch = 32
	}
	if o.Rounding == "" {
		o.Rounding = AdaRound
	}
	def(&o.LRWeightStep, 1e-4)
	def(&o.LRActStep, 4e-5)
	def(&o.LRRound, 1e-3)
	def(&o.RoundWeight, 0.01)
	def(&o.BetaStart, 20)
	def(&o.BetaEnd, 2)
	def(&o.WarmUp, 0.2)
	def(&o.QDrop, 0.5)
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 100
	}
}

// reconstructBlocks learns p's weight scales, rounding and activation steps block by block on
// calibration images (NCHW, n of them), minimising each block's output error against the
// float model when its input comes from the already-quantized blocks (mixed 50/50 with the
// float input, QDrop). fm is the BN-folded float model with inferred shapes (dynamic batch);
// p must be initialised (initWeights, initActs). p is updated in place.
func reconstructBlocks(ctx context.Context, rt *ort.Runtime, fm *ir.Model, p *Plan, images []float32, n int, o ReconOptions) ([]BlockResult, error) {
	o.defaults()
	if o.Iters <= 0 {
		return nil, fmt.Errorf("quantizer: %w", option.Errorf("ReconOptions.Iters", "%s = %d: reconstruction needs a positive number of steps per block", o.Iters))
	}
	if _, err := ParseRounding(string(o.Rounding)); err != nil {
		return nil, err
	}
	blocks, err := Partition(fm.Graph)
	if err != nil {
		return nil, err
	}
	xfp := images
	xq := images
	var results []BlockResult
	done := 0
	if r := o.Resume; r != nil {
		if r.Blocks > len(blocks) || len(r.Results) != r.Blocks {
			return nil, fmt.Errorf("quantizer: the checkpoint has %d blocks done (%d results); the model has %d blocks", r.Blocks, len(r.Results), len(blocks))
		}
		if err := p.restore(&r.Plan); err != nil {
			return nil, err
		}
		done = r.Blocks
		results = append(results, r.Results...)
	}
	for bi, b := range blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		bm, err := blockModel(fm, b)
		if err != nil {
			return nil, err
		}
		sub := p.Subset(bm.Graph)
		sub.Acts = withoutValue(sub.Acts, b.Output)
		yfp, err := runBlock(rt, bm, nil, xfp, n)
		if err != nil {
			return nil, fmt.Errorf("quantizer: block %s (float): %w", b.Name, err)
		}
		res := BlockResult{Name: b.Name, Kind: string(b.Kind), Layers: len(b.Layers)}
		if bi < done {
			res = results[bi]
		} else if len(sub.Weights)+len(sub.Acts) > 0 {
			// Each block has its own random stream, so a block's result does not depend on how
			// many random numbers earlier blocks drew (and a resumed run can start at any block).
			rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15+uint64(bi)))
			if err := reconstructBlock(ctx, rt, bm, sub, xq, xfp, yfp, n, o, rng, bi, len(blocks), &res); err != nil {
				return nil, fmt.Errorf("quantizer: block %s: %w", b.Name, err)
			}
		}
		// The float input is done with: let the quantized output take its memory.
		xfp = nil
		nextQ, err := runBlock(rt, bm, sub, xq, n)
		if err != nil {
			return nil, fmt.Errorf("quantizer: block %s (quantized): %w", b.Name, err)
		}
		xq, xfp = nextQ, yfp
		if bi < done {
			continue
		}
		res.Seconds = time.Since(start).Seconds()
		results = append(results, res)
		if o.Checkpoint != nil {
			if err := o.Checkpoint(ReconState{Blocks: bi + 1, Results: append([]BlockResult(nil), results...), Plan: p.Snapshot()}); err != nil {
				return nil, err
			}
		}
	}
	return results, nil
}

func withoutValue(acts []*ActQuant, value string) []*ActQuant {
	var out []*ActQuant
	for _, a := range acts {
		if a.Value != value {
			out = append(out, a)
		}
	}
	return out
}

// runBlock runs block model bm (fake-quantized under p, or float when p is nil) over n inputs.
func runBlock(rt *ort.Runtime, bm *ir.Model, p *Plan, x []float32, n int) ([]float32, error) {
	m := bm
	if p != nil {
		var err error
		if m, err = simulate(bm, p); err != nil {
			return nil, err
		}
	}
	const batch = 64
	bs := min(batch, n)
	s, err := infer.New(rt, m, bs)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	per := len(x) / n
	outPer := int(ir.NumElements(s.OutShape)) / bs
	y := make([]float32, n*outPer)
	for i := 0; i < n; i += bs {
		k := min(bs, n-i)
		in := s.Input()
		copy(in, x[i*per:(i+k)*per])
		clear(in[k*per:])
		if err := s.Run(); err != nil {
			return nil, err
		}
		copy(y[i*outPer:(i+k)*outPer], s.Output()[:k*outPer])
	}
	return y, nil
}

// trainGraph is the block's reconstruction graph and the names of its parts.
type trainGraph struct {
	m                *ir.Model
	xq, xfp, yfp     string
	beta, regw       string
	loss, rec, round string
	weights          []*WeightQuant
	vNames, swNames  []string
	biasNames        []string    // per weight: its bias input when biases are learned, else ""
	biasInit         [][]float32 // per weight: the bias learning starts from
	bases            [][]float32 // each weight's fixed integer part floor(w/s₀)
	floats           [][]float32 // each weight's float values
	inNames          []string    // FlexRound: each weight's per-input-channel log-divisors
	shapes           [][]int64   // each weight's shape
	acts             []*ActQuant
	saNames          []string
	masks            []string // QDrop masks, bool inputs
}

// buildTrainGraph turns block model bm into the reconstruction graph at batch size batch.
func buildTrainGraph(bm *ir.Model, p *Plan, batch int, o ReconOptions) (*trainGraph, error) {
	m, err := cloneModel(bm)
	if err != nil {
		return nil, err
	}
	if err := ir.FixBatch(m, int64(batch)); err != nil {
		return nil, err
	}
	g := m.Graph
	in, out := g.Inputs[0], g.Outputs[0]
	tg := &trainGraph{m: m, xq: "recon_xq", xfp: "recon_xfp", yfp: "recon_yfp", beta: "recon_beta", regw: "recon_round_weight"}
	g.Inputs = []*ir.Value{
		{Name: tg.xq, DType: ir.Float32, Shape: in.Shape},
		{Name: tg.xfp, DType: ir.Float32, Shape: in.Shape},
		{Name: tg.yfp, DType: ir.Float32, Shape: out.Shape},
		{Name: tg.beta, DType: ir.Float32, Shape: []int64{1}},
		{Name: tg.regw, DType: ir.Float32, Shape: []int64{1}},
	}
	// The original input becomes the QDrop mix of the quantized and float inputs, computed
	// first.
	origNodes := g.Nodes
	g.Nodes = nil
	if err := ir.InferShapes(m); err != nil {
		return nil, err
	}
	b := autodiff.NewBuilder(m)
	b.SetPrefix("recon")
	// QDrop masks are bool inputs the host fills with random bits each step: cheaper than
	// ONNX RandomUniform + Less, and reproducible from the seed.
	keep := func(shape []int64) string {
		name := fmt.Sprintf("recon_mask_%d", len(tg.masks))
		v := &ir.Value{Name: name, DType: ir.Bool, Shape: append([]int64{}, shape...)}
		g.Inputs = append(g.Inputs, v)
		g.ValueInfo[name] = v
		tg.masks = append(tg.masks, name)
		return name
	}
	mixed := b.Where(keep(in.Shape), tg.xq, tg.xfp)
	g.Nodes = append(g.Nodes, &ir.Node{Name: "recon_input", OpType: "Identity", Inputs: []string{mixed}, Outputs: []string{in.Name}})
	g.ValueInfo[in.Name] = &ir.Value{Name: in.Name, DType: ir.Float32, Shape: in.Shape}
	g.Nodes = append(g.Nodes, origNodes...)
	if err := ir.InferShapes(m); err != nil {
		return nil, err
	}

	// Activation quantizers: x → where(keep, s·clip(roundSTE(x/s)), x).
	stepOf := map[string]string{}
	for _, a := range p.Acts {
		v := g.ValueInfo[a.Value]
		if v == nil {
			continue
		}
		sa := "recon_step_" + a.Value
		g.Inputs = append(g.Inputs, &ir.Value{Name: sa, DType: ir.Float32, Shape: []int64{1}})
		g.ValueInfo[sa] = g.Inputs[len(g.Inputs)-1]
		lo, hi := a.Centred()
		consumers := g.Consumers()[a.Value]
		q := b.Mul(b.Op("Clip", []string{b.Node("sharpq", "RoundSTE", []string{b.Div(a.Value, sa)}, 1)[0], b.Scalar(ir.Float32, lo), b.Scalar(ir.Float32, hi)}), sa)
		outv := q
		if o.QDrop < 1 {
			outv = b.Where(keep(v.Shape), q, a.Value)
		}
		for _, c := range consumers {
			if p.readsFloat(c) {
				continue
			}
			for i, x := range c.Inputs {
				if x == a.Value {
					c.Inputs[i] = outv
				}
			}
		}
		stepOf[a.Value] = sa
		tg.acts = append(tg.acts, a)
		tg.saNames = append(tg.saNames, sa)
	}

	// Weight quantizers: w → s·(clip(B + h(V) + z, lo, hi) − z), with the integer part
	// B = floor(w/s₀) fixed at the initial scale, as GENIE-M: s then rescales a fixed grid,
	// and a changing s never moves a weight to another integer behind AdaRound's back.
	var regs []string
	for _, wq := range p.Weights {
		var node *ir.Node
		for _, n := range g.Nodes {
			if n.Name == wq.Node {
				node = n
			}
		}
		if node == nil {
			continue
		}
		w := g.Initializer(wq.Weight)
		ws := workShape(w.Shape, o.Rounding)
		cshape := make([]int64, len(ws))
		for i := range cshape {
			cshape[i] = 1
		}
		cshape[0] = w.Shape[0]
		vName, swName := "recon_round_"+wq.Node, "recon_scale_"+wq.Node
		g.Inputs = append(g.Inputs,
			&ir.Value{Name: vName, DType: ir.Float32, Shape: append([]int64{}, w.Shape...)},
			&ir.Value{Name: swName, DType: ir.Float32, Shape: []int64{w.Shape[0]}})
		g.ValueInfo[vName] = g.Inputs[len(g.Inputs)-2]
		g.ValueInfo[swName] = g.Inputs[len(g.Inputs)-1]
		zero := make([]float64, len(wq.Zero))
		for i, z := range wq.Zero {
			zero[i] = float64(z)
		}
		z := b.Floats(ir.Float32, cshape, zero)
		s := b.Reshape(swName, cshape)
		v := vName
		if !slices.Equal(ws, w.Shape) {
			v = b.Reshape(vName, ws)
		}
		lo, hi := wq.Grid()
		var qint string
		if o.Rounding == FlexRound {
			// q = round(w / (s·exp(L + c))): the learned scale both divides and multiplies, L
			// moves each weight across the grid on its own and c each input channel's weights
			// together, which keeps the divisors from fitting the images weight by weight.
			inName := "recon_flexin_" + wq.Node
			g.Inputs = append(g.Inputs, &ir.Value{Name: inName, DType: ir.Float32, Shape: []int64{w.Shape[1]}})
			g.ValueInfo[inName] = g.Inputs[len(g.Inputs)-1]
			ishape := make([]int64, len(ws))
			for k := range ishape {
				ishape[k] = 1
			}
			ishape[1] = w.Shape[1]
			tg.inNames = append(tg.inNames, inName)
			wc := b.Floats(ir.Float32, ws, float64s(w.F32))
			logDiv := b.Add(v, b.Reshape(inName, ishape))
			q := b.RoundSTE(b.Div(wc, b.Mul(s, b.Op("Exp", []string{logDiv}))))
			qint = b.Op("Clip", []string{b.Add(q, z), b.Scalar(ir.Float32, lo), b.Scalar(ir.Float32, hi)})
			tg.bases = append(tg.bases, nil)
		} else {
			h := b.Op("Clip", []string{b.Add(b.Scale(b.Op("Sigmoid", []string{v}), 1.2), b.Scalar(ir.Float32, -0.1)), b.Scalar(ir.Float32, 0), b.Scalar(ir.Float32, 1)})
			base := floorBase(w.F32, wq.Scale)
			fl := b.Floats(ir.Float32, ws, float64s(base))
			qint = b.Op("Clip", []string{b.Add(b.Add(fl, h), z), b.Scalar(ir.Float32, lo), b.Scalar(ir.Float32, hi)})
			tg.bases = append(tg.bases, base)
			tg.inNames = append(tg.inNames, "")
			// Σ(1 − |2h − 1|^β)
			t := b.Op("Pow", []string{b.Op("Abs", []string{b.Add(b.Scale(h, 2), b.Scalar(ir.Float32, -1))}), tg.beta})
			regs = append(regs, b.ReduceSum(b.Sub(b.Scalar(ir.Float32, 1), t), nil, false))
		}
		tg.shapes = append(tg.shapes, append([]int64{}, w.Shape...))
		wfq := b.Mul(b.Sub(qint, z), s)
		if !slices.Equal(ws, w.Shape) {
			wfq = b.Reshape(wfq, w.Shape)
		}
		node.Inputs[1] = wfq
		biasName := ""
		if bt := g.Initializer(node.Input(2)); o.LRBias > 0 && bt != nil && bt.DType == ir.Float32 {
			biasName = "recon_bias_" + wq.Node
			g.Inputs = append(g.Inputs, &ir.Value{Name: biasName, DType: ir.Float32, Shape: append([]int64{}, bt.Shape...)})
			g.ValueInfo[biasName] = g.Inputs[len(g.Inputs)-1]
			node.Inputs[2] = biasName
			init := wq.Bias
			if init == nil {
				init = bt.F32
			}
			tg.biasInit = append(tg.biasInit, init)
		} else {
			tg.biasInit = append(tg.biasInit, nil)
		}
		tg.biasNames = append(tg.biasNames, biasName)
		if sa, ok := stepOf[node.Input(0)]; ok && (biasName != "" || node.Input(2) != "" && g.Initializer(node.Input(2)) != nil) {
			// The bias becomes int32 with scale s_x·s_w (see quantizedBias).
			bs := b.Mul(sa, swName)
			node.Inputs[2] = b.Mul(b.Node("sharpq", "RoundSTE", []string{b.Div(node.Input(2), bs)}, 1)[0], bs)
		}
		tg.weights = append(tg.weights, wq)
		tg.floats = append(tg.floats, w.F32)
		tg.vNames = append(tg.vNames, vName)
		tg.swNames = append(tg.swNames, swName)
	}
	// Nodes were appended after the layers that now read them: restore topological order.
	if err := sortTopological(g); err != nil {
		return nil, err
	}
	// Reconstruction loss: Σ over channels, mean over batch and space (BRECQ's lp_loss).
	d := b.Sub(out.Name, tg.yfp)
	tg.rec = b.ReduceMean(b.ReduceSum(b.Mul(d, d), []int64{1}, false), nil, false)
	tg.round = b.Scalar(ir.Float32, 0)
	if len(regs) > 0 {
		tg.round = b.Sum(regs...)
	}
	tg.loss = b.Add(tg.rec, b.Mul(b.Reshape(tg.regw, []int64{}), tg.round))
	if b.Err() != nil {
		return nil, b.Err()
	}
	g.Outputs = []*ir.Value{{Name: tg.loss, DType: ir.Float32, Shape: []int64{}}}
	return tg, nil
}

// workShape returns the shape a weight of shape w is quantized in during reconstruction: the
// same elements with the kernel dimensions folded, [out, in·kh·kw] (FlexRound, which divides
// by an input channel's factor too: [out, in] for 1×1 kernels, else [out, in, kh·kw]). ONNX
// Runtime's CPU kernels broadcast a scalar over a tensor with a dimension of 1 (a 1×1 or a
// depthwise kernel's) a short run of elements at a time: a Mul of a [1280, 160, 1, 1] weight by
// a scalar took 70 times as long as of the same weight as [1280, 160] (BENCHMARKS.md, "Weights
// in two dimensions").
func workShape(w []int64, r Rounding) []int64 {
	if len(w) <= 2 {
		return w
	}
	rest := ir.NumElements(w[2:])
	switch {
	case r != FlexRound:
		return []int64{w[0], w[1] * rest}
	case rest == 1:
		return []int64{w[0], w[1]}
	}
	return []int64{w[0], w[1], rest}
}

// sortTopological reorders g's nodes so every value is produced before it is used.
func sortTopological(g *ir.Graph) error {
	avail := map[string]bool{"": true}
	for _, v := range g.Inputs {
		avail[v.Name] = true
	}
	for _, t := range g.Initializers {
		avail[t.Name] = true
	}
	var out []*ir.Node
	pending := g.Nodes
	for len(pending) > 0 {
		var rest []*ir.Node
		for _, n := range pending {
			ready := true
			for _, in := range n.Inputs {
				if !avail[in] {
					ready = false
					break
				}
			}
			if !ready {
				rest = append(rest, n)
				continue
			}
			out = append(out, n)
			for _, o := range n.Outputs {
				avail[o] = true
			}
		}
		if len(rest) == len(pending) {
			return fmt.Errorf("quantizer: graph has a cycle at node %s", rest[0])
		}
		pending = rest
	}
	g.Nodes = out
	return nil
}

// initRound returns AdaRound's initial logits: h(V) equals the fractional part of w/s, so the
// soft weight starts at the float weight.
// floorBase returns floor(w/s) per element, s per output channel.
func floorBase(w, scale []float32) []float32 {
	per := len(w) / len(scale)
	out := make([]float32, len(w))
	for i, x := range w {
		out[i] = float32(math.Floor(float64(x) / float64(scale[i/per])))
	}
	return out
}

func float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// initRounding returns the rounding parameters' start: FlexRound's log-divisors at 0 (round to
// nearest at s₀), AdaRound's logits where h(V) equals the fractional part of w/s₀.
func initRounding(w []float32, q *WeightQuant, r Rounding) []float32 {
	if r == FlexRound {
		return make([]float32, len(w))
	}
	return initRound(w, q)
}

// flexIntegers returns FlexRound's learned integers round(w / (s·exp(L + c))) of weight w of
// the given shape (output channels on axis 0, input channels on axis 1), with s per output
// channel, L per element and c per input channel, as a WeightQuant's Base, with Round all
// negative (no step up), so that WeightQuant.Integers gives them back.
func flexIntegers(w []float32, shape []int64, scale, logDiv, logIn []float32) (base, round []float32) {
	per := len(w) / len(scale)
	spatial := per / int(shape[1])
	base, round = make([]float32, len(w)), make([]float32, len(w))
	for i, x := range w {
		// In float32, as the training graph computed it.
		l := logDiv[i] + logIn[(i/spatial)%len(logIn)]
		d := scale[i/per] * float32(math.Exp(float64(l)))
		base[i] = float32(math.RoundToEven(float64(x / d)))
		round[i] = -1
	}
	return base, round
}

func initRound(w []float32, q *WeightQuant) []float32 {
	per := len(w) / len(q.Scale)
	v := make([]float32, len(w))
	for i, x := range w {
		r := float64(x)/float64(q.Scale[i/per]) - math.Floor(float64(x)/float64(q.Scale[i/per]))
		r = math.Min(math.Max(r, 0.01), 0.99)
		v[i] = float32(-math.Log(1.2/(r+0.1) - 1))
	}
	return v
}

func reconstructBlock(ctx context.Context, rt *ort.Runtime, bm *ir.Model, p *Plan, xq, xfp, yfp []float32, n int, o ReconOptions, rng *rand.Rand, bi, nb int, res *BlockResult) error {
	batch := min(o.Batch, n)
	tg, err := buildTrainGraph(bm, p, batch, o)
	if err != nil {
		return err
	}
	gRound := &train.Group{Name: "round", LR: o.LRRound}
	gWeight := &train.Group{Name: "weight-scale", LR: o.LRWeightStep}
	gAct := &train.Group{Name: "act-step", LR: o.LRActStep}
	gBias := &train.Group{Name: "bias", LR: o.LRBias}
	var params []*train.Param
	for i, wq := range tg.weights {
		w := tg.m.Graph.Initializer(wq.Weight)
		params = append(params,
			&train.Param{Name: tg.vNames[i], Group: gRound, Init: initRounding(w.F32, wq, o.Rounding)},
			&train.Param{Name: tg.swNames[i], Group: gWeight, Init: append([]float32{}, wq.Scale...)})
	}
	for i, a := range tg.acts {
		params = append(params, &train.Param{Name: tg.saNames[i], Group: gAct, Init: []float32{a.Step}})
	}
	biasParams := make([]*train.Param, len(tg.weights))
	for i := range tg.weights {
		if tg.biasNames[i] == "" {
			continue
		}
		biasParams[i] = &train.Param{Name: tg.biasNames[i], Group: gBias, Init: append([]float32{}, tg.biasInit[i]...)}
		params = append(params, biasParams[i])
	}
	inParams := make([]*train.Param, len(tg.weights))
	for i, name := range tg.inNames {
		if name != "" {
			inParams[i] = &train.Param{Name: name, Group: gRound, Init: make([]float32, tg.shapes[i][1])}
			params = append(params, inParams[i])
		}
	}
	tr, err := train.New(rt, tg.m, train.Config{
		Loss: tg.loss, Params: params,
		Feeds:   append([]string{tg.xq, tg.xfp, tg.yfp, tg.beta, tg.regw}, tg.masks...),
		Outputs: []string{tg.rec, tg.round},
		Session: o.Session,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	inPer, outPer := len(xq)/n, len(yfp)/n
	fxq, fxfp, fyfp := tr.Feed(tg.xq), tr.Feed(tg.xfp), tr.Feed(tg.yfp)
	beta, regw := tr.Feed(tg.beta), tr.Feed(tg.regw)
	warm := int(o.WarmUp * float64(o.Iters))
	window := max(1, o.Iters/20)
	// The step sizes' learning rates anneal to 0 along a cosine, as in GENIE's code; the
	// rounding logits keep theirs.
	cosW, cosA, cosB := &train.Cosine{Group: gWeight, Steps: o.Iters}, &train.Cosine{Group: gAct, Steps: o.Iters}, &train.Cosine{Group: gBias, Steps: o.Iters}
	var recSum float64
	idx := make([]int, batch)
	for step := 0; step < o.Iters; step++ {
		if step%50 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		for i, j := range idx {
			copy(fxq[i*inPer:(i+1)*inPer], xq[j*inPer:(j+1)*inPer])
			copy(fxfp[i*inPer:(i+1)*inPer], xfp[j*inPer:(j+1)*inPer])
			copy(fyfp[i*outPer:(i+1)*outPer], yfp[j*outPer:(j+1)*outPer])
		}
		// β anneals linearly from BetaStart to BetaEnd after the warm-up (BRECQ's
		// LinearTempDecay); the regulariser is off during the warm-up.
		if step < warm {
			beta[0], regw[0] = float32(o.BetaStart), 0
		} else {
			rel := float64(step-warm) / float64(max(1, o.Iters-warm))
			beta[0] = float32(o.BetaEnd + (o.BetaStart-o.BetaEnd)*math.Max(0, 1-rel))
			regw[0] = float32(o.RoundWeight)
		}
		for _, mk := range tg.masks {
			fillMask(rng, tr.FeedBool(mk), o.QDrop)
		}
		if _, err := tr.Step(); err != nil {
			return err
		}
		cosW.After(step + 1)
		cosA.After(step + 1)
		cosB.After(step + 1)
		rec := float64(tr.Output(tg.rec)[0])
		if step < window {
			res.LossStart += rec / float64(window)
		}
		if step >= o.Iters-window {
			recSum += rec
		}
		for _, prm := range params {
			if prm.Group == gWeight || prm.Group == gAct {
				for i, v := range prm.Data {
					if v < 1e-8 {
						prm.Data[i] = 1e-8 // steps must stay positive
					}
				}
			}
		}
		if o.Progress != nil && ((step+1)%o.ProgressEvery == 0 || step+1 == o.Iters) {
			o.Progress(ReconProgress{Block: bi, Blocks: nb, Name: res.Name, Step: step + 1, Steps: o.Iters, Rec: rec, Round: float64(tr.Output(tg.round)[0])})
		}
	}
	res.LossEnd = recSum / float64(window)
	for i, wq := range tg.weights {
		wq.Scale = append([]float32{}, params[2*i+1].Data...)
		if o.Rounding == FlexRound {
			wq.Base, wq.Round = flexIntegers(tg.floats[i], tg.shapes[i], wq.Scale, params[2*i].Data, inParams[i].Data)
			continue
		}
		wq.Round = append([]float32{}, params[2*i].Data...)
		wq.Base = tg.bases[i]
	}
	for i, a := range tg.acts {
		a.Step = params[2*len(tg.weights)+i].Data[0]
	}
	for i, bp := range biasParams {
		if bp != nil {
			tg.weights[i].Bias = append([]float32{}, bp.Data...)
		}
	}
	return nil
}

// fillMask sets each element true with probability p (exactly 1/2 uses one random bit each).
func fillMask(rng *rand.Rand, m []bool, p float64) {
	if p == 0.5 {
		for i := 0; i < len(m); i += 64 {
			bits := rng.Uint64()
			for j := i; j < min(i+64, len(m)); j++ {
				m[j] = bits&1 == 1
				bits >>= 1
			}
		}
		return
	}
	for i := range m {
		m[i] = rng.Float64() < p
	}
}
