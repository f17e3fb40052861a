package generator

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

func bundledModel(t testing.TB) *ir.Model {
	t.Helper()
	m, err := onnxio.Read(filepath.Join("..", "testmodels", testmodels.DefaultModel))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSynthesizeReducesBNS runs a short synthesis on the bundled ResNet-20 (two batches of 16,
// 30 steps, swing on) and checks that the BNS loss falls well below where it starts.
func TestSynthesizeReducesBNS(t *testing.T) {
	rt := orttest.Runtime(t)
	m := bundledModel(t)
	opts := Options{Images: 32, Batch: 16, Steps: 30, Seed: 1, Swing: true}
	var steps int
	opts.Progress = func(p Progress) { steps++ }
	res, err := Synthesize(t.Context(), rt, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if steps != 60 {
		t.Errorf("progress called %d times, want 60", steps)
	}
	if res.N != 32 || res.C != 1 || res.H != 32 || res.W != 32 || len(res.Data) != 32*32*32 {
		t.Fatalf("images %d×%d×%d×%d (%d values), want 32×1×32×32", res.N, res.C, res.H, res.W, len(res.Data))
	}
	if len(res.Batches) != 2 {
		t.Fatalf("%d batches, want 2", len(res.Batches))
	}
	for i, b := range res.Batches {
		t.Logf("batch %d: BNS %.4f → %.4f (×%.1f lower), prior %.4f, loss %.4f → %.4f, %v",
			i, b.FirstBNS, b.BNS, b.FirstBNS/b.BNS, b.Prior, b.FirstLoss, b.Loss, b.Elapsed)
		// Observed here (ORT 1.30, 2 threads, seed 1): the BNS loss falls ×49–57 in 30 steps
		// (3.06 → 0.054 and 1.88 → 0.038); ×10 leaves room for other thread counts and
		// libraries while still catching a loss that does not train.
		if b.BNS > b.FirstBNS/10 {
			t.Errorf("batch %d: BNS loss %.4g after 30 steps, from %.4g: want at least ×10 lower", i, b.BNS, b.FirstBNS)
		}
		if b.Start != 16*i || b.Len != 16 || b.Generator.Batch() != 16 || len(b.Generator.Params) != len(genParamNames) {
			t.Errorf("batch %d: start %d len %d generator batch %d", i, b.Start, b.Len, b.Generator.Batch())
		}
	}
	for _, v := range res.Data {
		if v != v {
			t.Fatal("NaN in the images")
		}
	}
}

// TestSynthesizeDeterministic checks that one seed gives identical images and another seed
// different ones.
func TestSynthesizeDeterministic(t *testing.T) {
	rt := orttest.Runtime(t)
	m := bundledModel(t)
	run := func(seed uint64) *Images {
		res, err := Synthesize(t.Context(), rt, m, Options{Images: 8, Batch: 8, Steps: 4, Seed: seed, Swing: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a.Data, b.Data) {
		t.Error("seed 7 gave different images on two runs")
	}
	if !slices.Equal(a.Batches[0].Generator.Z.F32, b.Batches[0].Generator.Z.F32) {
		t.Error("seed 7 gave different latents on two runs")
	}
	if slices.Equal(a.Data, c.Data) {
		t.Error("seeds 7 and 8 gave the same images")
	}
	// The saved state regenerates the images (in a graph of its own, which ONNX Runtime may
	// fuse differently: float32 rounding only).
	again, err := a.Batches[0].Generator.Generate(rt)
	if err != nil {
		t.Fatal(err)
	}
	if e := reftest.RelErr(again, a.Data); e > 1e-5 {
		t.Errorf("images regenerated from the saved generator: relative error %.3g", e)
	}
}

// TestSynthesizeParallel makes three batches two at a time and one at a time, every session on
// one thread in both: the images, batch order and checkpoints must be the same. One at a time,
// the second batch restarts the first one's session; two at a time, it has its own.
func TestSynthesizeParallel(t *testing.T) {
	rt := orttest.Runtime(t)
	m := bundledModel(t)
	run := func(parallel int) (*Images, []int) {
		var saved []int
		res, err := Synthesize(t.Context(), rt, m, Options{Images: 20, Batch: 8, Steps: 3, Seed: 2, Swing: true,
			Parallel: parallel, Session: ort.SessionConfig{Threads: 1},
			Checkpoint: func(im *Images) error { saved = append(saved, len(im.Batches)); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		return res, saved
	}
	one, savedOne := run(1)
	two, savedTwo := run(2)
	if !slices.Equal(one.Data, two.Data) {
		t.Errorf("two batches at a time gave other images (relative %.3g)", reftest.RelErr(one.Data, two.Data))
	}
	for i, b := range two.Batches {
		if b.Start != 8*i || b.Len != min(8, 20-8*i) {
			t.Errorf("batch %d: start %d, %d images", i, b.Start, b.Len)
		}
	}
	if !slices.Equal(savedOne, []int{1, 2, 3}) || savedTwo[len(savedTwo)-1] != 3 || !slices.IsSorted(savedTwo) {
		t.Errorf("checkpoints after %v batches (one at a time) and %v (two)", savedOne, savedTwo)
	}
}

// TestSynthesizeCancel cancels the context during the third step of the first batch and
// expects the run to stop there with the context's error, one at a time and with two batches
// at once (where the other batch may finish the step it is in).
func TestSynthesizeCancel(t *testing.T) {
	rt := orttest.Runtime(t)
	m := bundledModel(t)
	for _, parallel := range []int{1, 2} {
		ctx, cancel := context.WithCancel(t.Context())
		last := map[int]int{}
		atCancel := -1 // batch 1's step when batch 0 cancelled
		opts := Options{Images: 16, Batch: 8, Steps: 100, Seed: 1, Parallel: parallel}
		opts.Progress = func(p Progress) {
			last[p.Batch] = p.Step
			if p.Batch == 0 && p.Step == 3 {
				atCancel = last[1]
				cancel()
			}
		}
		res, err := Synthesize(ctx, rt, m, opts)
		cancel()
		if !errors.Is(err, context.Canceled) || res != nil {
			t.Fatalf("parallel %d: got %v, %v; want nil, context.Canceled", parallel, res, err)
		}
		// The other batch may finish the step it was in, no more.
		if last[0] != 3 || last[1] > atCancel+1 || (parallel == 1 && last[1] != 0) {
			t.Errorf("parallel %d: last steps %v (batch 1 at %d when cancelled), want batch 0 at 3", parallel, last, atCancel)
		}
	}
}

// TestShift checks the swing selection matrices against reflect padding by one pixel and a
// crop at offset d+1, on the host.
func TestShift(t *testing.T) {
	const h, w = 4, 5
	x := make([]float32, h*w)
	for i := range x {
		x[i] = float32(i)
	}
	// padded returns the reflect-padded (by 1) image at (i, j) of the padded grid.
	padded := func(i, j int) float32 { return x[reflect(i-1, h)*w+reflect(j-1, w)] }
	rows, cols := make([]float32, h*h), make([]float32, w*w)
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			fillShift(rows, h, dy, false)
			fillShift(cols, w, dx, true)
			for i := 0; i < h; i++ {
				for j := 0; j < w; j++ {
					var got float32 // (S_h · x · S_w)[i][j]
					for k := 0; k < h; k++ {
						for l := 0; l < w; l++ {
							got += rows[i*h+k] * x[k*w+l] * cols[l*w+j]
						}
					}
					if want := padded(i+dy+1, j+dx+1); got != want {
						t.Fatalf("shift (%d, %d) at (%d, %d): %v, want %v", dy, dx, i, j, got, want)
					}
				}
			}
		}
	}
}

// TestSwingTaps checks that swing rewires exactly the strided convolutions of ResNet-20 (two
// 3×3 and two 1×1 shortcut convs with stride 2).
func TestSwingTaps(t *testing.T) {
	m := bundledModel(t)
	if err := ir.FixBatch(m, 2); err != nil {
		t.Fatal(err)
	}
	nodes := append([]*ir.Node{}, m.Graph.Nodes...)
	taps, err := addSwing(autodiff.NewBuilder(m), nodes, genPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(taps) != 4 {
		t.Fatalf("%d swing taps, want 4", len(taps))
	}
	if err := sortNodes(m.Graph); err != nil {
		t.Fatal(err)
	}
	if err := ir.InferShapes(m); err != nil {
		t.Fatal(err)
	}
}

// TestGeneratorInit checks the fresh generator's shapes and PyTorch-style bounds.
func TestGeneratorInit(t *testing.T) {
	g := newGenerator(rand.New(rand.NewPCG(1, 2)), 4, 1, 32, 32)
	want := genParamShapes(1, 32, 32)
	for i, p := range g.Params {
		if !slices.Equal(p.Shape, want[i]) || int64(len(p.F32)) != p.Len() {
			t.Errorf("%s: shape %v (%d values), want %v", p.Name, p.Shape, len(p.F32), want[i])
		}
	}
	fc := g.Params[0].F32 // fan-in 256: bound 1/16
	lo, hi := slices.Min(fc), slices.Max(fc)
	if lo < -1.0/16 || hi > 1.0/16 || hi < 0.06 || lo > -0.06 {
		t.Errorf("fc.weight in [%v, %v], want about ±1/16", lo, hi)
	}
	if g.Params[2].F32[0] != 1 || g.Params[3].F32[0] != 0 {
		t.Error("bn0 not initialised to scale 1, shift 0")
	}
	if g.Z.Shape[0] != 4 || g.Z.Shape[1] != ZDim {
		t.Errorf("z shape %v", g.Z.Shape)
	}
}

func TestWithMirrors(t *testing.T) {
	// Two 1×2×3 images: each row reversed in the mirrors, originals first and unchanged.
	im := &Images{N: 2, C: 1, H: 2, W: 3, Data: []float32{
		1, 2, 3, 4, 5, 6,
		7, 8, 9, 10, 11, 12,
	}, Batches: []BatchResult{{Start: 0, Len: 2}}}
	orig := append([]float32(nil), im.Data...)
	got := im.WithMirrors()
	want := []float32{
		1, 2, 3, 4, 5, 6,
		7, 8, 9, 10, 11, 12,
		3, 2, 1, 6, 5, 4,
		9, 8, 7, 12, 11, 10,
	}
	if got.N != 4 || got.C != 1 || got.H != 2 || got.W != 3 {
		t.Fatalf("shape %d×%d×%d×%d, want 4×1×2×3", got.N, got.C, got.H, got.W)
	}
	for i := range want {
		if got.Data[i] != want[i] {
			t.Fatalf("Data = %v, want %v", got.Data, want)
		}
	}
	for i := range orig {
		if im.Data[i] != orig[i] {
			t.Fatalf("the original images changed: %v", im.Data)
		}
	}
	if mm := got.WithMirrors(); mm.Image(6)[0] != 1 || mm.Image(7)[0] != 7 {
		t.Errorf("mirroring twice: images 6, 7 start %v, %v; want the originals 1, 7", mm.Image(6)[0], mm.Image(7)[0])
	}
}

func TestWithMixtures(t *testing.T) {
	// Image i holds i·(p+1) at pixel p, so a mixture l·i + (1 − l)·j of two of them holds
	// r·(p+1) with one ratio r in [0, N−1] at every pixel.
	const n, sz = 5, 6
	im := &Images{N: n, C: 1, H: 2, W: 3, Data: make([]float32, n*sz)}
	for i := range n {
		for p := range sz {
			im.Data[i*sz+p] = float32(i * (p + 1))
		}
	}
	orig := append([]float32(nil), im.Data...)
	tests := []struct {
		name string
		k    int
	}{{"none", 0}, {"fewer than the images", 3}, {"more than the images", 40}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := im.WithMixtures(tt.k, rand.New(rand.NewPCG(1, 2)))
			if got.N != n+tt.k || len(got.Data) != (n+tt.k)*sz {
				t.Fatalf("N = %d with %d values, want %d images", got.N, len(got.Data), n+tt.k)
			}
			for i := range orig {
				if got.Data[i] != orig[i] || im.Data[i] != orig[i] {
					t.Fatalf("the originals changed: %v", got.Data[:n*sz])
				}
			}
			distinct := map[float32]bool{}
			for m := n; m < got.N; m++ {
				x := got.Image(m)
				r := x[0]
				if r < 0 || r > n-1 {
					t.Errorf("mixture %d: ratio %v outside [0, %d]", m, r, n-1)
				}
				for p := range x {
					if math.Abs(float64(x[p]-r*float32(p+1))) > 1e-4*float64(p+1) {
						t.Fatalf("mixture %d is not a mixture of two images: %v", m, x)
					}
				}
				distinct[r] = true
			}
			if tt.k > 3 && len(distinct) < tt.k/2 {
				t.Errorf("%d mixtures, only %d distinct", tt.k, len(distinct))
			}
			again := im.WithMixtures(tt.k, rand.New(rand.NewPCG(1, 2)))
			for i := range again.Data {
				if again.Data[i] != got.Data[i] {
					t.Fatal("the same random stream gave other mixtures")
				}
			}
		})
	}
}

// TestSynthesizeBakedNormalisation: a model with (x − mean)/std baked in before its first
// layer gets the same images as the model without it, mapped back to raw pixels (x = y·std +
// mean), since it sees them after its own normalisation. One step: Adam's first updates are
// nearly sign(gradient), so float rounding differences grow over later steps (2e-4 after two,
// 5e-3 after three), while a wrong mapping shows at once.
func TestSynthesizeBakedNormalisation(t *testing.T) {
	rt := orttest.Runtime(t)
	const mean, std = 0.2860, 0.3530
	opts := Options{Images: 8, Batch: 8, Steps: 1, Seed: 3}
	plain, err := Synthesize(t.Context(), rt, bundledModel(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	baked, err := Synthesize(t.Context(), rt, testmodels.WithPreprocessing(bundledModel(t), mean, std), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(plain.Data))
	for i, v := range plain.Data {
		want[i] = v*std + mean
	}
	if e := reftest.RelErr(baked.Data, want); e > 1e-4 {
		t.Errorf("images of the model with baked normalisation: relative error %.3g against the plain model's, denormalised", e)
	}
	if p, b := plain.Batches[0].BNS, baked.Batches[0].BNS; math.Abs(p-b) > 1e-4*p {
		t.Errorf("BNS loss %.6g with baked normalisation, %.6g without", b, p)
	}
}

// TestSynthesizeOddSize synthesises for an input whose sides are not multiples of 4 (as
// Inception v3's 299): the generator makes the next multiple of 4 and crops the centre, the
// images have the model's shape, the BNS loss trains, and the generator saved for refinement
// regenerates the same images.
func TestSynthesizeOddSize(t *testing.T) {
	rt := orttest.Runtime(t)
	m := testmodels.TinyResNet(2)
	m.Graph.Inputs[0].Shape = []int64{-1, 1, 10, 9}
	delete(m.Graph.ValueInfo, "input")
	res, err := Synthesize(t.Context(), rt, m, Options{Images: 8, Batch: 8, Steps: 30, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.C != 1 || res.H != 10 || res.W != 9 || len(res.Data) != 8*10*9 {
		t.Fatalf("images %d×%d×%d×%d (%d values), want 8×1×10×9", res.N, res.C, res.H, res.W, len(res.Data))
	}
	b := res.Batches[0]
	if !(b.BNS < b.FirstBNS/2) {
		t.Errorf("BNS loss %.4g → %.4g: want at least ×2 lower", b.FirstBNS, b.BNS)
	}
	again, err := b.Generator.Generate(rt)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(res.Data) {
		t.Fatalf("regenerated %d values, want %d", len(again), len(res.Data))
	}
	for i, v := range again {
		if math.Abs(float64(v-res.Data[i])) > 1e-4 {
			t.Fatalf("value %d regenerated as %g, synthesis gave %g", i, v, res.Data[i])
		}
	}
}
