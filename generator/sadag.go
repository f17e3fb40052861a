package generator

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/train"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// RefineOptions configures Refine, the SADAG refinement. RefinePaper returns the paper's
// settings; start from it.
type RefineOptions struct {
	// Steps is the number of Adam steps per batch.
	Steps int
	// LRz and LRg are the learning rates of the latents and of the generator's weights; the
	// generator's falls by Gamma after every step. Zero means 1e-5, 1e-4 and 0.95.
	LRz, LRg, Gamma float64
	// Rho is the latent distance of each image's neighbour; zero means 1.
	Rho float64
	// CurrentDirection takes each step's neighbour direction from a first pass at the step's
	// own parameters (DESIGN.md; about twice the cost of a step). Off, a step reuses the
	// latent gradient of the step before.
	CurrentDirection bool
	// LambdaGM and LambdaDiv weigh the gradient-matching and diversity losses (zero turns a
	// term off); Zeta is the diversity margin.
	LambdaGM, LambdaDiv, Zeta float64
	// ModelName names the model in error messages; empty means the graph's name.
	ModelName string
	// Progress, when set, is called after every step.
	Progress func(Progress)
	// Session configures the ONNX Runtime sessions.
	Session ort.SessionConfig
	// Resume continues a run (same inputs and options) from the batches a checkpoint holds.
	Resume *RefineState
	// Checkpoint, when set, is called after every refined batch; the state is valid only
	// during the call (save it, do not keep it). An error stops the run.
	Checkpoint func(*RefineState) error
	// DropGenerators frees each batch's generators once the batch is refined: the refined
	// one is not kept in the result, and the synthesised one is removed from the input
	// (Refine then modifies its prev argument). Each is 0.4 GB at 224×224; a caller that
	// needs only the images saves two per batch.
	DropGenerators bool
	// SpillDir is the folder synthesis wrote generators into (Options.SpillDir): a batch
	// whose generator is not in memory is read from its GeneratorFile there.
	SpillDir string
}

// RefineState is the refinement's progress: the images with the batches refined so far (the
// first len(Images.Batches)) and the memory bank of their features, which the diversity loss
// of later batches needs.
type RefineState struct {
	Images Images // the batches refined so far, in order
	// MemF and MemG are the memory bank: the normalised features f̂ (MemDF values each)
	// and logit differences ĝ (MemDG each) of the MemRows images refined so far, row by row.
	MemF, MemG            []float32
	MemRows, MemDF, MemDG int // images in the bank, and the lengths of their f̂ and ĝ rows
}

// RefinePaper returns SADAG's settings: 500 steps per batch, latents at lr 1e-5, the
// generator at 1e-4 ×0.95 per step, ρ = 1, λ1 = λ2 = 1, ζ = 0.
func RefinePaper() RefineOptions {
	return RefineOptions{Steps: 500, LRz: 1e-5, LRg: 1e-4, Gamma: 0.95, Rho: 1, LambdaGM: 1, LambdaDiv: 1}
}

// normEps keeps the row normalisation of features and logit differences finite when a row is
// zero (as PyTorch's F.normalize does with its eps).
const normEps = 1e-12

// Refine runs the SADAG refinement (DESIGN.md) on the batches GENIE synthesis produced: for
// each batch it continues the saved generator and latents of prev, with the float model fp and
// the fake-quant model q (e.g. quantizer.Result.Simulated after a warm-up reconstruction) frozen,
// minimising L = L_BN + λ1·L_GM + λ2·L_div:
//
//   - f_i is the input of q's last Gemm/MatMul (its last fully-connected layer) and
//     g_i = fp(x_i) − q(x_i), both L2-normalised per image; sim(i, j) = cos(f_i, f_j)·cos(g_i, g_j),
//     the cosine between the per-sample gradients of the reconstruction loss with respect to
//     the last layer's weights, without forming them.
//   - The neighbour of image i is G(z_i − ρ·d_i) with d_i the normalised gradient of the loss
//     with respect to z_i, taken at the previous step (at the first, from a forward pass with
//     d = 0), or with CurrentDirection from a first pass at the step's parameters, and held
//     constant within a step; L_GM = 1 − mean_i sim(i, neighbour(i)).
//   - L_div = mean_i max_{j≠i} relu(|sim(i, j)| − ζ), with j over this batch and the final,
//     detached (f, g) of every earlier batch.
//
// q's Round nodes (fake quantizers) pass gradients straight through. Swing is not applied.
// Cancelling ctx stops the run within a step and returns ctx.Err().
func Refine(ctx context.Context, rt *ort.Runtime, fp, q *ir.Model, prev *Images, opts RefineOptions) (*Images, error) {
	if prev == nil || len(prev.Batches) == 0 {
		return nil, fmt.Errorf("generator: refine: no synthesised batches to continue")
	}
	if opts.Steps < 0 {
		return nil, fmt.Errorf("generator: refine: steps %d must not be negative", opts.Steps)
	}
	name, c, h, w, err := checkFP(fp, opts.ModelName)
	if err != nil {
		return nil, err
	}
	if c != prev.C || h != prev.H || w != prev.W {
		return nil, fmt.Errorf("generator: refine: the model takes %d×%d×%d images, the generators make %d×%d×%d", c, h, w, prev.C, prev.H, prev.W)
	}
	res := &Images{N: prev.N, C: c, H: h, W: w, Data: make([]float32, len(prev.Data))}
	var mem memory
	if r := opts.Resume; r != nil {
		if r.Images.N != prev.N || len(r.Images.Data) != len(res.Data) || len(r.Images.Batches) > len(prev.Batches) {
			return nil, fmt.Errorf("generator: refine: the checkpoint holds %d images in %d batches, this run refines %d in %d", r.Images.N, len(r.Images.Batches), prev.N, len(prev.Batches))
		}
		copy(res.Data, r.Images.Data)
		res.Batches = slices.Clone(r.Images.Batches)
		mem = memory{f: slices.Clone(r.MemF), g: slices.Clone(r.MemG), rows: r.MemRows, df: r.MemDF, dg: r.MemDG}
	}
	// One graph and session serve every batch of its size: the memory bank is an input as
	// large as the earlier batches of the last one can make it.
	capacity := prev.N - prev.Batches[len(prev.Batches)-1].Len
	if mem.rows > capacity {
		return nil, fmt.Errorf("generator: refine: the checkpoint's memory holds %d images, more than the %d of the batches before the last", mem.rows, capacity)
	}
	var r *refiner
	defer func() {
		if r != nil {
			r.tr.Close()
		}
	}()
	for bi, pb := range prev.Batches {
		if bi < len(res.Batches) {
			continue // refined before the checkpoint
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var gen *Generator
		switch {
		case pb.Generator != nil && opts.DropGenerators:
			gen = pb.Generator // refined in place: dropped after the batch anyway
		case pb.Generator != nil:
			gen = pb.Generator.Clone()
		case pb.GeneratorFile != "" && opts.SpillDir != "":
			var reuse *Generator
			if r != nil && opts.DropGenerators {
				reuse = r.gen // the last batch's, dropped
			}
			if gen, err = loadGenerator(opts.SpillDir, pb.GeneratorFile, bi, reuse); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("generator: refine: batch %d has no saved generator", bi)
		}
		if gen.C != c || gen.H != h || gen.W != w || gen.Batch() != pb.Len {
			return nil, fmt.Errorf("generator: refine: batch %d: the generator makes %d images of %d×%d×%d, the batch holds %d of %d×%d×%d", bi, gen.Batch(), gen.C, gen.H, gen.W, pb.Len, c, h, w)
		}
		sz := c * h * w
		out := res.Data[pb.Start*sz : (pb.Start+pb.Len)*sz]
		t0 := time.Now()
		if r != nil && r.gen.Batch() == gen.Batch() {
			err = r.restart(gen)
		} else {
			if r != nil {
				r.tr.Close()
			}
			r, err = newRefiner(rt, fp, q, name, gen, capacity, opts)
		}
		if err != nil {
			return nil, err
		}
		// The earlier batches' dropped generators are garbage now: free them before the steps.
		releaseMemory()
		setup := time.Since(t0)
		br, err := r.refineBatch(ctx, &mem, opts, bi, len(prev.Batches), out)
		if err != nil {
			return nil, err
		}
		br.Setup, br.Elapsed = setup, time.Since(t0)
		br.Start = pb.Start
		if opts.DropGenerators {
			br.Generator, prev.Batches[bi].Generator = nil, nil
		}
		res.Batches = append(res.Batches, *br)
		if opts.Checkpoint != nil {
			st := &RefineState{Images: *res, MemF: mem.f, MemG: mem.g, MemRows: mem.rows, MemDF: mem.df, MemDG: mem.dg}
			if err := opts.Checkpoint(st); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// memory holds the normalised features f̂ and logit differences ĝ of the images of earlier
// batches, one row per image, for the diversity loss.
type memory struct {
	f, g         []float32
	rows, df, dg int
}

// refiner is the training state of a batch's refinement. One refiner serves the batches of
// its size in turn (restart), so each builds its graph and session once.
type refiner struct {
	tr       *train.Trainer
	gen      *Generator
	params   []*train.Param
	gz, gg   *train.Group
	lrz, lrg float64 // the groups' starting learning rates
	decay    *train.StepDecay
	gamma    float64
	dir      string
	// Output names: the loss parts, the images, and the normalised features and logit
	// differences of the images and of their neighbours.
	bns, gm, div, img, fh, gh, fhN, ghN string
	df, dg                              int
	// bank holds the inputs of the memory bank (none when no batch comes before another).
	bank memoryInputs
}

// memoryInputs names the graph inputs through which the diversity loss reads the memory
// bank: the rows' features and logit differences, each padded with zero rows to capacity,
// and the mask of the batch's similarities that count (not an image with itself, not a
// padding row).
type memoryInputs struct {
	f, g, mask string
	capacity   int
}

// restart makes r refine gen (of the batch size r was built for) from its values, exactly as
// a refiner newly built for gen would.
func (r *refiner) restart(gen *Generator) error {
	inits := [][]float32{gen.Z.F32}
	for _, p := range gen.Params {
		inits = append(inits, p.F32)
	}
	if err := r.tr.Restart(inits); err != nil {
		return fmt.Errorf("generator: refine: %w", err)
	}
	r.gen = gen
	r.startSchedules()
	return nil
}

// startSchedules sets the learning rates to their starting values and the generator's decay
// to its first step.
func (r *refiner) startSchedules() {
	r.gz.LR, r.gg.LR = r.lrz, r.lrg
	r.decay = &train.StepDecay{Group: r.gg, Every: 1, Gamma: r.gamma}
}

// setMemory feeds the memory bank mem (its rows, then zero rows) and the mask of the
// similarities the diversity loss takes its maxima over.
func (r *refiner) setMemory(mem *memory) error {
	if r.bank.capacity == 0 {
		return nil
	}
	if mem.rows > r.bank.capacity {
		return fmt.Errorf("generator: refine: a memory bank of %d images, room for %d", mem.rows, r.bank.capacity)
	}
	if mem.rows > 0 && (mem.df != r.df || mem.dg != r.dg) {
		return fmt.Errorf("generator: refine: feature sizes %d and %d differ from the earlier batches' %d and %d", r.df, r.dg, mem.df, mem.dg)
	}
	f, g := r.tr.Feed(r.bank.f), r.tr.Feed(r.bank.g)
	clear(f[copy(f, mem.f):])
	clear(g[copy(g, mem.g):])
	n := r.gen.Batch()
	all := n + r.bank.capacity
	mask := r.tr.Feed(r.bank.mask)
	for i := range n {
		for j := range all {
			on := float32(0)
			if (j < n && j != i) || (j >= n && j-n < mem.rows) {
				on = 1
			}
			mask[i*all+j] = on
		}
	}
	return nil
}

// refineBatch refines the generator r holds and writes its images into out.
func (r *refiner) refineBatch(ctx context.Context, mem *memory, opts RefineOptions, bi, batches int, out []float32) (*BatchResult, error) {
	gen := r.gen
	if err := r.setMemory(mem); err != nil {
		return nil, err
	}
	br := &BatchResult{Len: gen.Batch(), Steps: opts.Steps}
	clear(r.tr.Feed(r.dir))
	if _, err := r.tr.Forward(); err != nil {
		return nil, fmt.Errorf("generator: refine: batch %d: %w", bi, err)
	}
	r.setDirection()
	var cosSum float64
	cosN := 0
	for step := 1; step <= opts.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cos := math.NaN()
		if opts.CurrentDirection && step > 1 {
			// The first step's direction comes from the pass before the loop, at these
			// parameters already.
			if _, err := r.tr.Forward(); err != nil {
				return nil, fmt.Errorf("generator: refine: batch %d: %w", bi, err)
			}
			cos = r.setDirection()
		}
		loss, err := r.tr.Step()
		if err != nil {
			return nil, fmt.Errorf("generator: refine: batch %d: %w", bi, err)
		}
		if !opts.CurrentDirection {
			cos = r.setDirection()
		}
		if !math.IsNaN(cos) {
			cosSum += cos
			cosN++
		}
		r.decay.After(step)
		bns, gm, div := r.parts()
		if step == 1 {
			br.FirstLoss, br.FirstBNS = loss, bns
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Batch: bi, Batches: batches, Step: step, Steps: opts.Steps,
				Loss: loss, BNS: bns, GM: gm, Div: div, LRz: r.gz.LR, LRg: r.gg.LR, DirCos: cos})
		}
	}
	if cosN > 0 {
		br.DirCos = cosSum / float64(cosN)
	}
	loss, err := r.tr.Forward()
	if err != nil {
		return nil, fmt.Errorf("generator: refine: batch %d: %w", bi, err)
	}
	br.Loss = loss
	br.BNS, br.GM, br.Div = r.parts()
	if opts.Steps == 0 {
		br.FirstLoss, br.FirstBNS = br.Loss, br.BNS
	}
	copy(out, r.tr.Output(r.img))
	mem.f = append(mem.f, r.tr.Output(r.fh)...)
	mem.g = append(mem.g, r.tr.Output(r.gh)...)
	mem.rows += gen.Batch()
	mem.df, mem.dg = r.df, r.dg
	br.Generator = gen
	copy(gen.Z.F32, r.params[0].Data)
	for i, p := range gen.Params {
		copy(p.F32, r.params[i+1].Data)
	}
	return br, nil
}

// parts returns the BNS, gradient-matching and diversity losses of the last run.
func (r *refiner) parts() (bns, gm, div float64) {
	return float64(r.tr.Output(r.bns)[0]), float64(r.tr.Output(r.gm)[0]), float64(r.tr.Output(r.div)[0])
}

// setDirection feeds, as the neighbours' direction, each image's gradient with respect to its
// latents from the last run, normalised to length 1. It returns the mean cosine between the
// old and the new direction.
func (r *refiner) setDirection() float64 {
	grad, dir := r.params[0].Grad, r.tr.Feed(r.dir)
	var sumCos float64
	for i := 0; i < len(dir); i += ZDim {
		var ss float64
		for _, v := range grad[i : i+ZDim] {
			ss += float64(v) * float64(v)
		}
		inv := 0.0
		if ss > 0 {
			inv = 1 / math.Sqrt(ss)
		}
		var dot float64
		for j, v := range grad[i : i+ZDim] {
			d := float64(v) * inv
			dot += d * float64(dir[i+j])
			dir[i+j] = float32(d)
		}
		sumCos += dot
	}
	return sumCos / float64(len(dir)/ZDim)
}

// lastFC returns the input of the last Gemm or MatMul of g that reads an activation.
func lastFC(g *ir.Graph) (string, error) {
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if (n.OpType == "Gemm" || n.OpType == "MatMul") && (n.Domain == "" || n.Domain == "ai.onnx") && g.Initializer(n.Inputs[0]) == nil {
			return n.Inputs[0], nil
		}
	}
	return "", fmt.Errorf("generator: refine: the quantized model has no fully-connected layer (Gemm or MatMul) to take features from")
}

// newRefiner builds the refinement graph for gen's batch: the generator applied to the
// latents and to their neighbours, the float model on both image sets (the BNS taps on the
// first), the quantized model on both, and the loss, whose diversity term has room for a
// memory bank of capacity images.
func newRefiner(rt *ort.Runtime, fp, q *ir.Model, name string, gen *Generator, capacity int, opts RefineOptions) (*refiner, error) {
	batch := gen.Batch()
	if batch < 2 {
		return nil, fmt.Errorf("generator: refine: batch of %d images; the losses need at least 2", batch)
	}
	m, err := infer.Static(fp, batch)
	if err != nil {
		return nil, fmt.Errorf("generator: refine: %w", err)
	}
	fpN, err := infer.Static(fp, batch)
	if err != nil {
		return nil, fmt.Errorf("generator: refine: %w", err)
	}
	qm, err := infer.Static(q, batch)
	if err != nil {
		return nil, fmt.Errorf("generator: refine: quantized model: %w", err)
	}
	taps, err := bnTaps(m, name)
	if err != nil {
		return nil, err
	}
	pre := findInputNorm(m, int(m.Graph.Inputs[0].Shape[1]))
	feat, err := lastFC(qm.Graph)
	if err != nil {
		return nil, err
	}
	g := m.Graph
	in := g.Inputs[0]
	if qin := qm.Graph.Inputs; len(qin) != 1 || !slices.Equal(qin[0].Shape, in.Shape) {
		return nil, fmt.Errorf("generator: refine: the quantized model's inputs do not match the float model's %v", in.Shape)
	}
	fpLogits := g.Outputs[0].Name
	g.Inputs, g.Outputs = nil, nil
	for _, o := range qm.Opsets {
		if o.Version > m.Opset(o.Domain) {
			m.SetOpset(o.Domain, o.Version)
		}
	}
	neighbours := genPrefix + "neighbours"
	g.ValueInfo[neighbours] = &ir.Value{Name: neighbours, DType: ir.Float32, Shape: append([]int64{}, in.Shape...)}
	fpNeighbours, err := embed(m, fpN, neighbours, "fpn/", "", false)
	if err != nil {
		return nil, err
	}
	qX, err := embed(m, qm, in.Name, "q/", "q/", true)
	if err != nil {
		return nil, err
	}
	qNeighbours, err := embed(m, qm, neighbours, "qn/", "q/", true)
	if err != nil {
		return nil, err
	}

	b := autodiff.NewBuilder(m)
	gin, err := addGeneratorInputs(m, gen, genPrefix)
	if err != nil {
		return nil, err
	}
	r := &refiner{gen: gen}
	if r.dir, err = addFloatInput(m, genPrefix+"direction", gen.Z.Shape); err != nil {
		return nil, err
	}
	rho := opts.Rho
	if rho == 0 {
		rho = 1
	}
	r.img = applyGenerator(b, gen, gin.z, gin.params, genPrefix)
	zN := b.Sub(gin.z, b.Scale(r.dir, rho))
	xN := applyGenerator(b, gen, zN, gin.params, genPrefix+"neighbours/")
	if pre != nil {
		r.img, xN = pre.toInput(b, r.img), pre.toInput(b, xN)
	}
	g.AddNode(&ir.Node{Name: genPrefix + "image", OpType: "Identity", Inputs: []string{r.img}, Outputs: []string{in.Name}})
	g.AddNode(&ir.Node{Name: genPrefix + "neighbours", OpType: "Identity", Inputs: []string{xN}, Outputs: []string{neighbours}})

	r.bns = addBNSLoss(b, taps)
	r.fh = rowNormalize(b, qX.rename(feat))
	r.fhN = rowNormalize(b, qNeighbours.rename(feat))
	r.gh = rowNormalize(b, b.Sub(fpLogits, qX.output))
	r.ghN = rowNormalize(b, b.Sub(fpNeighbours.output, qNeighbours.output))
	if fs, gs := b.Shape(r.fh), b.Shape(r.gh); fs != nil && gs != nil {
		r.df, r.dg = int(fs[1]), int(gs[1])
	}
	// L_GM = 1 − mean_i cos(f_i, f'_i)·cos(g_i, g'_i).
	sim := b.Mul(b.ReduceSum(b.Mul(r.fh, r.fhN), []int64{1}, false), b.ReduceSum(b.Mul(r.gh, r.ghN), []int64{1}, false))
	r.gm = b.Reshape(b.Sub(b.Scalar(ir.Float32, 1), b.ReduceMean(sim, nil, false)), []int64{1})
	if r.div, r.bank, err = addDiversity(b, r.fh, r.gh, capacity, opts.Zeta); err != nil {
		return nil, err
	}
	loss := r.bns
	if opts.LambdaGM != 0 {
		loss = b.Add(loss, b.Scale(r.gm, opts.LambdaGM))
	}
	if opts.LambdaDiv != 0 {
		loss = b.Add(loss, b.Scale(r.div, opts.LambdaDiv))
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("generator: refine: %w", err)
	}
	if err := sortNodes(g); err != nil {
		return nil, err
	}

	lrz, lrg, gamma := opts.LRz, opts.LRg, opts.Gamma
	if lrz == 0 {
		lrz = 1e-5
	}
	if lrg == 0 {
		lrg = 1e-4
	}
	if gamma == 0 {
		gamma = 0.95
	}
	r.gz, r.gg = &train.Group{Name: "z"}, &train.Group{Name: "generator"}
	r.lrz, r.lrg, r.gamma = lrz, lrg, gamma
	r.startSchedules()
	// New copies Init into its own buffers, so gen's values serve without a copy of their own.
	r.params = append(r.params, &train.Param{Name: gin.z, Group: r.gz, Init: gen.Z.F32})
	for i, p := range gen.Params {
		r.params = append(r.params, &train.Param{Name: gin.params[i], Group: r.gg, Init: p.F32})
	}
	feeds := []string{r.dir}
	if r.bank.capacity > 0 {
		feeds = append(feeds, r.bank.f, r.bank.g, r.bank.mask)
	}
	r.tr, err = train.New(rt, m, train.Config{
		Loss: loss, Params: r.params, Feeds: feeds,
		Outputs: []string{r.bns, r.gm, r.div, r.img, r.fh, r.gh, r.fhN, r.ghN}, Session: opts.Session,
	})
	if err != nil {
		return nil, fmt.Errorf("generator: refine: %w", err)
	}
	return r, nil
}

// rowNormalize returns v ([N, …]) flattened to [N, D] with each row divided by its L2 norm.
func rowNormalize(b *autodiff.Builder, v string) string {
	s := b.Shape(v)
	if s == nil {
		return ""
	}
	v = b.Reshape(v, []int64{s[0], ir.NumElements(s[1:])})
	norm := b.Op("Sqrt", []string{b.Add(b.ReduceSumSquare(v, []int64{1}, true), b.Scalar(ir.Float32, normEps))})
	return b.Div(v, norm)
}

// addDiversity appends L_div = mean_i max_{j≠i} relu(|sim(i, j)| − ζ) for the batch's rows
// fh and gh against themselves and the memory bank's rows, and returns its name (shape [1])
// and, for a bank of capacity rows > 0, the inputs that feed the bank. Padding rows and each
// image's similarity with itself are masked to 0, below every similarity that counts (all are
// ≥ 0), so the maxima are those over the bank's rows alone.
func addDiversity(b *autodiff.Builder, fh, gh string, capacity int, zeta float64) (string, memoryInputs, error) {
	bank := memoryInputs{capacity: capacity}
	fs, gs := b.Shape(fh), b.Shape(gh)
	if fs == nil || gs == nil {
		return "", bank, nil
	}
	n := fs[0]
	all := n + int64(capacity)
	others, mask := fh, ""
	othersG := gh
	if capacity > 0 {
		var err error
		m := b.Model()
		if bank.f, err = addFloatInput(m, genPrefix+"memory_f", []int64{int64(capacity), fs[1]}); err != nil {
			return "", bank, err
		}
		if bank.g, err = addFloatInput(m, genPrefix+"memory_g", []int64{int64(capacity), gs[1]}); err != nil {
			return "", bank, err
		}
		if bank.mask, err = addFloatInput(m, genPrefix+"memory_mask", []int64{n, all}); err != nil {
			return "", bank, err
		}
		others = b.Op("Concat", []string{fh, bank.f}, ir.IntAttr("axis", 0))
		othersG = b.Op("Concat", []string{gh, bank.g}, ir.IntAttr("axis", 0))
		mask = bank.mask
	} else {
		offDiag := make([]float64, n*n)
		for i := range n {
			for j := range n {
				if i != j {
					offDiag[i*n+j] = 1
				}
			}
		}
		mask = b.Floats(ir.Float32, []int64{n, n}, offDiag)
	}
	sf := b.Op("MatMul", []string{fh, b.Transpose(others, []int64{1, 0})}) // [N, N+M]
	sg := b.Op("MatMul", []string{gh, b.Transpose(othersG, []int64{1, 0})})
	s := b.Mul(b.Op("Abs", []string{b.Mul(sf, sg)}), mask)
	if zeta != 0 {
		s = b.Op("Relu", []string{b.Sub(s, b.Scalar(ir.Float32, zeta))})
	}
	var rowMax string
	if b.Opset() >= 18 {
		rowMax = b.Op("ReduceMax", []string{s, b.Int64s(1)}, ir.IntAttr("keepdims", 0))
	} else {
		rowMax = b.Op("ReduceMax", []string{s}, ir.IntsAttr("axes", 1), ir.IntAttr("keepdims", 0))
	}
	return b.Reshape(b.ReduceMean(rowMax, nil, false), []int64{1}), bank, nil
}
