package generator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/train"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/ort"
)

// Options configures Synthesize. Paper and Fast return complete sets.
type Options struct {
	// Images is the number of images to synthesise, in batches of Batch (the last batch may
	// be smaller). Each batch has its own fresh generator and latents.
	Images int
	Batch  int // images per batch, 2 or more for SADAG refinement
	// Steps is the number of Adam steps per batch.
	Steps int
	// Seed makes the run reproducible: the same seed, model, options and thread count give
	// the same images.
	Seed uint64
	// LRz and LRg are the initial learning rates of the latents (lowered on a plateau of the
	// loss) and of the generator's weights (×0.95 every 100 steps); zero means 0.1 and 0.01.
	LRz, LRg float64
	// Swing shifts the input of every strided convolution by a random 0–2 pixels at every
	// step (see swing.go).
	Swing bool
	// ModelName names the model in error messages (e.g. its path); empty means the graph's name.
	ModelName string
	// Progress, when set, is called after every step.
	Progress func(Progress)
	// Session configures the ONNX Runtime sessions (e.g. ProfilePrefix for a profile).
	Session ort.SessionConfig
	// Parallel is how many batches are synthesised at once, each session with its share of
	// the runtime's threads (on a small CPU two one-thread sessions side by side do more than
	// one two-thread session). 0 means one per runtime thread on CPU, one on CUDA; it never
	// exceeds the number of batches. The images depend on it only through the thread count of
	// each session.
	Parallel int
	// SpillDir, when set, is a folder where each batch's trained generator is written as
	// soon as the batch is done (BatchResult.GeneratorFile) instead of being kept in memory
	// for SADAG refinement (RefineOptions.SpillDir reads it back): 0.4 GB per batch at
	// 224×224. DiscardGenerators keeps no generator at all (GENIE needs only the images).
	SpillDir          string
	DiscardGenerators bool // for GENIE: drop each batch's generator once its images are made
	// Resume continues a run from the batches a checkpoint holds (the same options and seed).
	Resume *Images
	// Checkpoint, when set, is called after every batch with the images so far (the batches
	// not yet made are zero); an error stops the run.
	Checkpoint func(*Images) error
}

// Paper returns the paper's settings: 1024 images in batches of 128, 4000 steps each, swing
// on (a GPU-sized job).
func Paper() Options {
	return Options{Images: 1024, Batch: 128, Steps: 4000, LRz: 0.1, LRg: 0.01, Swing: true}
}

// Fast returns a CPU-sized schedule: 256 images in batches of 128, 500 steps each, swing on
// (the schedule shared/peers.md ran GENIE's own code with).
func Fast() Options {
	return Options{Images: 256, Batch: 128, Steps: 500, LRz: 0.1, LRg: 0.01, Swing: true}
}

// Progress reports one finished step.
type Progress struct {
	Batch, Batches int // the batch (0-based) and the number of batches
	Step, Steps    int // steps done in this batch (1-based) and steps per batch
	// Loss is the step's total loss (before the step's update) and BNS, Prior, GM and Div its
	// parts: the image prior in synthesis, gradient matching and diversity in refinement.
	Loss, BNS, Prior, GM, Div float64
	LRz, LRg                  float64 // the learning rates for the next step
	// DirCos (refinement) is the mean cosine between the neighbours' direction this step used
	// (the latents' gradient of the step before) and the one the step produced: near 1, the
	// previous step's direction stands in well for the current one's. NaN at a step that
	// measured none (the first with RefineOptions.CurrentDirection).
	DirCos float64
}

// Images is what Synthesize returns.
type Images struct {
	N, C, H, W int // N images of C×H×W
	// Data holds the N images, NCHW, as the model takes them (normalised inputs).
	Data []float32
	// Batches describes each batch of images, in order.
	Batches []BatchResult
}

// Image returns image i, [C·H·W] (aliasing Data).
func (im *Images) Image(i int) []float32 {
	sz := im.C * im.H * im.W
	return im.Data[i*sz : (i+1)*sz]
}

// WithMirrors returns the images followed by their horizontal mirrors (2N images, new Data;
// Batches are left out). A classifier trained with random horizontal flips, as most are,
// takes a mirrored image as an equally likely input, so the mirrors widen a calibration set
// at no synthesis cost.
func (im *Images) WithMirrors() *Images {
	sz := im.C * im.H * im.W
	out := &Images{N: 2 * im.N, C: im.C, H: im.H, W: im.W, Data: make([]float32, 2*im.N*sz)}
	copy(out.Data, im.Data[:im.N*sz])
	mirrored := out.Data[im.N*sz:]
	for row := 0; row < im.N*im.C*im.H; row++ {
		src, dst := im.Data[row*im.W:(row+1)*im.W], mirrored[row*im.W:(row+1)*im.W]
		for x := range src {
			dst[im.W-1-x] = src[x]
		}
	}
	return out
}

// WithMixtures returns the images followed by k convex mixtures l·a + (1 − l)·b of random
// pairs (a, b) of them, l uniform on [0, 1], drawn from rng (N+k images, new Data; Batches are
// left out). Mixtures fill the space between the synthetic images, whose pixels are nearly
// two-valued, with inputs the model maps smoothly: on mobilenetv2 W4A4 they lifted data-free
// top-1 by 0.1–0.3 points (BENCHMARKS.md).
func (im *Images) WithMixtures(k int, rng *rand.Rand) *Images {
	sz := im.C * im.H * im.W
	out := &Images{N: im.N + k, C: im.C, H: im.H, W: im.W, Data: make([]float32, (im.N+k)*sz)}
	copy(out.Data, im.Data[:im.N*sz])
	for m := range k {
		a, b := im.Image(rng.IntN(im.N)), im.Image(rng.IntN(im.N))
		l := rng.Float32()
		dst := out.Data[(im.N+m)*sz : (im.N+m+1)*sz]
		for i := range dst {
			dst[i] = l*a[i] + (1-l)*b[i]
		}
	}
	return out
}

// MixtureRand returns the random stream WithMixtures draws from in a run with this seed. It is
// a stream of its own, so the mixtures depend neither on what synthesis drew nor on which
// command made them: `quantize --mixup` on images a `convert --save-images` run saved draws the
// same pairs as that run.
func MixtureRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6d69787570)) }

// WithoutGenerators returns the images and their batch reports without the trained generators
// (which only SADAG refinement continues from): what a checkpoint needs to keep once the
// images are final. Data is shared, not copied.
func (im *Images) WithoutGenerators() *Images {
	out := *im
	out.Batches = make([]BatchResult, len(im.Batches))
	for i, b := range im.Batches {
		b.Generator, b.GeneratorFile = nil, ""
		out.Batches[i] = b
	}
	return &out
}

// BatchResult describes one batch of synthesised images.
type BatchResult struct {
	Start, Len int // the batch holds images Start … Start+Len−1
	Steps      int // the steps it ran
	// FirstLoss and FirstBNS are the loss and its BNS part at the first step.
	FirstLoss, FirstBNS float64
	// Loss and its parts BNS, Prior (synthesis), GM and Div (refinement) are those of the
	// returned images: the generator after the last update, without swing shifts.
	Loss, BNS, Prior, GM, Div float64
	// DirCos (refinement) is Progress.DirCos averaged over the batch's steps.
	DirCos float64
	// Elapsed is the batch's time, from its generator's set-up to its images.
	Elapsed time.Duration
	// Setup is the part of Elapsed spent building the batch's graph and session; near zero
	// when the batch reused those of the batch before (same size, same worker).
	Setup time.Duration
	// Generator is the trained generator and latents, to continue from (SADAG refinement).
	Generator *Generator
	// GeneratorFile, when Generator is nil, names the file in the spill folder
	// (Options.SpillDir) that holds it.
	GeneratorFile string
}

// genPrefix prefixes the names of everything the synthesis graph adds to the model.
const genPrefix = "genie/"

// Plateau settings of the latents' learning rate: GENIE's code uses PyTorch's
// ReduceLROnPlateau with patience 100 and a floor of 1e-4 (factor 0.1, threshold 1e-4).
const (
	zPatience = 100
	zMinLR    = 1e-4
	// The generator's learning rate falls by genGamma every genEvery steps.
	genEvery = 100
	genGamma = 0.95
)

// Workers returns how many batches Synthesize runs at once on rt with opts: Parallel, or one
// per runtime thread on CPU and one on CUDA, and never more than there are batches.
func (opts Options) Workers(rt *ort.Runtime) int {
	workers := opts.Parallel
	if workers <= 0 {
		workers = rt.Threads()
		if rt.Device() == ort.DeviceCUDA {
			workers = 1
		}
	}
	return max(1, min(workers, (opts.Images+opts.Batch-1)/max(opts.Batch, 1)))
}

// Synthesize runs GENIE data synthesis for model, a float model with one NCHW float32 input
// of static shape and BatchNormalization layers that keep their running statistics.
// The model is not modified. For each batch a fresh generator and fresh latents are trained
// with Adam to minimise the BNS loss at every BatchNormalization input plus the image prior;
// the images are the generator's output after the last step.
//
// A model without BatchNormalization statistics gives an error matching ErrNoBNStats.
// Cancelling ctx stops the run within a step and returns ctx.Err().
func Synthesize(ctx context.Context, rt *ort.Runtime, model *ir.Model, opts Options) (*Images, error) {
	switch {
	case opts.Images <= 0:
		return nil, fmt.Errorf("generator: %w", option.Errorf("Options.Images", "%s = %d: want 1 or more", opts.Images))
	case opts.Batch <= 0:
		return nil, fmt.Errorf("generator: %w", option.Errorf("Options.Batch", "%s = %d: want 1 or more", opts.Batch))
	case opts.Steps < 0:
		return nil, fmt.Errorf("generator: %w", option.Errorf("Options.Steps", "%s = %d: want 0 or more", opts.Steps))
	}
	name, c, h, w, err := checkFP(model, opts.ModelName)
	if err != nil {
		return nil, err
	}
	res := &Images{N: opts.Images, C: c, H: h, W: w, Data: make([]float32, opts.Images*c*h*w)}
	batches := (opts.Images + opts.Batch - 1) / opts.Batch
	first := 0
	if r := opts.Resume; r != nil {
		// Batches have independent random streams (batchRNG), so the finished ones are kept
		// and the rest continue as an uninterrupted run would.
		if r.C != c || r.H != h || r.W != w || r.N != opts.Images || len(r.Batches) > batches {
			return nil, fmt.Errorf("generator: the checkpoint holds %d images of %d×%d×%d, this run makes %d of %d×%d×%d", r.N, r.C, r.H, r.W, opts.Images, c, h, w)
		}
		copy(res.Data, r.Data)
		res.Batches = append(res.Batches, r.Batches...)
		first = len(r.Batches)
	}
	// The split depends on the whole run, not on what is left to do, so a resumed run gives
	// every batch the threads an uninterrupted one would.
	workers := opts.Workers(rt)
	if workers > 1 && opts.Session.Threads == 0 {
		opts.Session.Threads = max(1, rt.Threads()/workers)
	}
	if err := synthesizeBatches(ctx, rt, model, name, opts, res, first, batches, workers); err != nil {
		return nil, err
	}
	return res, nil
}

// synthesizeBatches makes batches first … batches−1 of res, workers at a time. Checkpoints
// follow the batch order: one is saved whenever the finished batches at the front grow.
func synthesizeBatches(ctx context.Context, rt *ort.Runtime, model *ir.Model, name string, opts Options, res *Images, first, batches, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sz := res.C * res.H * res.W
	var (
		mu      sync.Mutex
		done    = make([]*BatchResult, batches)
		next    = first // the next batch to start
		front   = first // batches before it are in res.Batches
		firstEr error
	)
	if progress := opts.Progress; progress != nil && workers > 1 {
		opts.Progress = func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			progress(p)
		}
	}
	fail := func(err error) {
		if firstEr == nil {
			firstEr = err
		}
		cancel()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The worker's graph and session, kept from batch to batch.
			var s *synth
			defer func() {
				if s != nil {
					s.close()
				}
			}()
			for {
				mu.Lock()
				if next >= batches || firstEr != nil {
					mu.Unlock()
					return
				}
				bi := next
				next++
				mu.Unlock()
				start := bi * opts.Batch
				n := min(opts.Batch, opts.Images-start)
				out := make([]float32, n*sz)
				br, err := synthesizeBatch(ctx, rt, model, name, opts, &s, bi, batches, n, out)
				mu.Lock()
				if err != nil {
					fail(err)
					mu.Unlock()
					return
				}
				br.Start = start
				copy(res.Data[start*sz:], out)
				done[bi] = br
				grew := false
				for front < batches && done[front] != nil {
					res.Batches = append(res.Batches, *done[front])
					front++
					grew = true
				}
				if grew && opts.Checkpoint != nil {
					if err := opts.Checkpoint(res); err != nil {
						fail(err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The first error is the cause: the other workers only saw the cancellation it triggered.
	return firstEr
}

// checkFP returns the name that errors use for the float model (modelName, or the graph's
// name when empty) and its input's channels, height and width, or an error when the model has
// no BatchNormalization statistics to synthesise from.
func checkFP(model *ir.Model, modelName string) (name string, c, h, w int, err error) {
	name = modelName
	if name == "" {
		name = fmt.Sprintf("model %q", model.Graph.Name)
	}
	if _, err := bnTaps(model, name); err != nil {
		return "", 0, 0, 0, err
	}
	c, h, w, err = inputShape(model)
	return name, c, h, w, err
}

// inputShape checks that model has one NCHW float input of static shape (float16 models
// are promoted to float32 with the rest of the graph) and returns C, H
// and W.
func inputShape(model *ir.Model) (c, h, w int, err error) {
	ins := model.Graph.Inputs
	if len(ins) != 1 {
		return 0, 0, 0, fmt.Errorf("generator: model has %d inputs; synthesis needs one image input", len(ins))
	}
	in := ins[0]
	if !in.DType.IsFloat() || len(in.Shape) != 4 {
		return 0, 0, 0, fmt.Errorf("generator: input %q is %s %v; synthesis needs a float [N C H W] image", in.Name, in.DType, in.Shape)
	}
	c, h, w = int(in.Shape[1]), int(in.Shape[2]), int(in.Shape[3])
	if c <= 0 || h <= 0 || w <= 0 {
		return 0, 0, 0, fmt.Errorf("generator: input %q has shape %v; synthesis needs static C, H and W: give the model a fixed input shape", in.Name, in.Shape)
	}
	return c, h, w, nil
}

// batchRNG returns the random source of batch bi: the generator's initialisation, the
// latents and the swing shifts all come from it.
func batchRNG(seed uint64, bi int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^uint64(bi)))
}

// synthesizeBatch trains one fresh generator for n images and writes them into out. *s is
// the worker's synthesis graph from its batch before (nil for its first): a batch of the same
// size restarts it with the new generator, as a new graph would start, and any other builds
// its own in *s. The caller closes *s after its last batch.
func synthesizeBatch(ctx context.Context, rt *ort.Runtime, model *ir.Model, name string, opts Options, s **synth, bi, batches, n int, out []float32) (*BatchResult, error) {
	t0 := time.Now()
	c, h, w, err := inputShape(model)
	if err != nil {
		return nil, err
	}
	rng := batchRNG(opts.Seed, bi)
	gen := newGenerator(rng, n, c, h, w)
	if *s != nil && (*s).gen.Batch() == n {
		err = (*s).restart(gen, rng)
	} else {
		if *s != nil {
			(*s).close()
		}
		*s, err = newSynth(rt, model, name, opts, gen, rng)
	}
	if err != nil {
		return nil, err
	}
	setup := time.Since(t0)
	br, err := (*s).run(ctx, opts, bi, batches)
	if err != nil {
		return nil, err
	}
	copy(out, (*s).tr.Output((*s).img))
	switch {
	case opts.DiscardGenerators:
	case opts.SpillDir != "":
		// Written from the trainer's buffers: a copy would be 0.4 GB at 224×224.
		if br.GeneratorFile, err = spillGenerator(opts.SpillDir, bi, (*s).view()); err != nil {
			return nil, err
		}
	default:
		br.Generator = (*s).state()
	}
	// The new generator's initial values and the last batch's copies are garbage now.
	releaseMemory()
	br.Setup, br.Elapsed = setup, time.Since(t0)
	return br, nil
}

// run trains the synth's generator for opts.Steps steps and runs the final pass, leaving the
// images in its image output.
func (s *synth) run(ctx context.Context, opts Options, bi, batches int) (*BatchResult, error) {
	n := s.gen.Batch()
	br := &BatchResult{Len: n, Steps: opts.Steps}
	for step := 1; step <= opts.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		loss, bns, prior, err := s.step()
		if err != nil {
			return nil, fmt.Errorf("generator: batch %d: %w", bi, err)
		}
		if step == 1 {
			br.FirstLoss, br.FirstBNS = loss, bns
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Batch: bi, Batches: batches, Step: step, Steps: opts.Steps,
				Loss: loss, BNS: bns, Prior: prior, LRz: s.gz.LR, LRg: s.gg.LR})
		}
	}
	var err error
	if br.Loss, br.BNS, br.Prior, err = s.final(); err != nil {
		return nil, fmt.Errorf("generator: batch %d: %w", bi, err)
	}
	if opts.Steps == 0 {
		br.FirstLoss, br.FirstBNS = br.Loss, br.BNS
	}
	return br, nil
}

// synth is the training state of a batch: the generator feeding the float model, the BNS
// loss with the image prior, and the trainer running them. One synth serves a worker's
// batches of one size in turn (restart), so each builds its graph and session once.
type synth struct {
	tr              *train.Trainer
	gen             *Generator // shapes and names; the live values are in params
	params          []*train.Param
	gz, gg          *train.Group
	plateau         *train.Plateau
	decay           *train.StepDecay
	shifts          shiftSetter
	rng             *rand.Rand
	bns, prior, img string
	lrz, lrg        float64 // the groups' starting learning rates
}

// newSynth builds the synthesis graph for gen's batch, opens its trainer with gen's values and
// takes rng for the swing shifts.
func newSynth(rt *ort.Runtime, model *ir.Model, name string, opts Options, gen *Generator, rng *rand.Rand) (*synth, error) {
	m, err := infer.Static(model, gen.Batch())
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	taps, err := bnTaps(m, name)
	if err != nil {
		return nil, err
	}
	c, _, _, err := inputShape(m)
	if err != nil {
		return nil, err
	}
	pre := findInputNorm(m, c)
	g := m.Graph
	input := g.Inputs[0].Name
	g.Inputs = nil
	g.Outputs = nil // only the loss, its parts and the gradients are computed
	fpNodes := append([]*ir.Node{}, g.Nodes...)

	b := autodiff.NewBuilder(m)
	var swing []swingTap
	if opts.Swing {
		if swing, err = addSwing(b, fpNodes, genPrefix); err != nil {
			return nil, err
		}
	}
	img, gin, err := addGenerator(b, gen, genPrefix)
	if err != nil {
		return nil, err
	}
	x := img
	if pre != nil {
		x = pre.toInput(b, img)
	}
	g.AddNode(&ir.Node{Name: genPrefix + "image", OpType: "Identity", Inputs: []string{x}, Outputs: []string{input}})
	bns := addBNSLoss(b, taps)
	prior := addImagePrior(b, img)
	loss := b.Add(bns, prior)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	if err := sortNodes(g); err != nil {
		return nil, err
	}

	lrz, lrg := opts.LRz, opts.LRg
	if lrz == 0 {
		lrz = 0.1
	}
	if lrg == 0 {
		lrg = 0.01
	}
	s := &synth{gen: gen, rng: rng, bns: bns, prior: prior, img: x, lrz: lrz, lrg: lrg,
		gz: &train.Group{Name: "z"}, gg: &train.Group{Name: "generator"}}
	s.startSchedules()
	s.params = append(s.params, &train.Param{Name: gin.z, Group: s.gz, Init: gen.Z.F32})
	for i, p := range gen.Params {
		s.params = append(s.params, &train.Param{Name: gin.params[i], Group: s.gg, Init: p.F32})
	}
	var feeds []string
	for _, t := range swing {
		feeds = append(feeds, t.rows, t.cols)
	}
	s.tr, err = train.New(rt, m, train.Config{
		Loss: loss, Params: s.params, Feeds: feeds,
		Outputs: []string{bns, prior, x}, Session: opts.Session,
	})
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	s.shifts = shiftSetter{taps: swing, feed: s.tr.Feed}
	return s, nil
}

// startSchedules sets the learning rates to their starting values and the schedules to
// their first step.
func (s *synth) startSchedules() {
	s.gz.LR, s.gg.LR = s.lrz, s.lrg
	s.plateau = &train.Plateau{Group: s.gz, Patience: zPatience, MinLR: zMinLR}
	s.decay = &train.StepDecay{Group: s.gg, Every: genEvery, Gamma: genGamma}
}

// restart makes s train gen (of the batch size s was built for) from its initial values, with
// rng for the swing shifts, exactly as a synth newly built for gen would.
func (s *synth) restart(gen *Generator, rng *rand.Rand) error {
	inits := [][]float32{gen.Z.F32}
	for _, p := range gen.Params {
		inits = append(inits, p.F32)
	}
	if err := s.tr.Restart(inits); err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	s.gen, s.rng = gen, rng
	s.startSchedules()
	return nil
}

// step runs one Adam step (with fresh swing shifts) and the learning-rate schedules, and
// returns the loss and its parts before the update.
func (s *synth) step() (loss, bns, prior float64, err error) {
	s.shifts.random(s.rng)
	loss, err = s.tr.Step()
	if err != nil {
		return 0, 0, 0, err
	}
	s.plateau.Observe(loss)
	s.decay.After(s.tr.Steps())
	return loss, float64(s.tr.Output(s.bns)[0]), float64(s.tr.Output(s.prior)[0]), nil
}

// final runs the graph without shifts on the current generator, leaving its images in the
// image output, and returns the loss and its parts.
func (s *synth) final() (loss, bns, prior float64, err error) {
	s.shifts.identity()
	loss, err = s.tr.Forward()
	if err != nil {
		return 0, 0, 0, err
	}
	return loss, float64(s.tr.Output(s.bns)[0]), float64(s.tr.Output(s.prior)[0]), nil
}

// view returns the live generator and latents without copying them: valid until the next
// step or restart.
func (s *synth) view() *Generator {
	g := &Generator{C: s.gen.C, H: s.gen.H, W: s.gen.W}
	g.Z = ir.NewFloat32(s.gen.Z.Name, s.gen.Z.Shape, s.params[0].Data)
	for i, p := range s.gen.Params {
		g.Params = append(g.Params, ir.NewFloat32(p.Name, p.Shape, s.params[i+1].Data))
	}
	return g
}

// state copies the live generator and latents out of the trainer.
func (s *synth) state() *Generator {
	g := &Generator{C: s.gen.C, H: s.gen.H, W: s.gen.W}
	g.Z = ir.NewFloat32(s.gen.Z.Name, append([]int64{}, s.gen.Z.Shape...), append([]float32{}, s.params[0].Data...))
	for i, p := range s.gen.Params {
		g.Params = append(g.Params, ir.NewFloat32(p.Name, append([]int64{}, p.Shape...), append([]float32{}, s.params[i+1].Data...)))
	}
	return g
}

func (s *synth) close() error {
	err := s.tr.Close()
	releaseMemory()
	return err
}

// releaseMemory returns a finished batch's training buffers to the system. They are Go memory
// (ONNX Runtime reads and writes the parameters, gradients and Adam moments in place, 1.6 GB
// for a generator at 224×224), while the session's own allocations are C memory the Go
// collector does not see: paced by the Go heap alone, it would let each finished batch's
// buffers linger into the next batch's peak (measured: +1.7 GB for a second batch).
func releaseMemory() { debug.FreeOSMemory() }
