package generator

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/ir"
)

// fakeQuant returns the bundled model with its last fully-connected layer reading its input rounded to
// multiples of step (a stand-in for a fake-quant model from the quantizer: plain Round nodes).
func fakeQuant(t testing.TB, step float32) *ir.Model {
	t.Helper()
	q := bundledModel(t)
	g := q.Graph
	feat, err := lastFC(g)
	if err != nil {
		t.Fatal(err)
	}
	s := ir.NewFloat32("fq.step", nil, []float32{step})
	g.AddInitializer(s)
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		if n.OpType == "Gemm" && n.Inputs[0] == feat {
			nodes = append(nodes,
				&ir.Node{Name: "fq.div", OpType: "Div", Inputs: []string{feat, s.Name}, Outputs: []string{"fq.div"}},
				&ir.Node{Name: "fq.round", OpType: "Round", Inputs: []string{"fq.div"}, Outputs: []string{"fq.round"}},
				&ir.Node{Name: "fq.mul", OpType: "Mul", Inputs: []string{"fq.round", s.Name}, Outputs: []string{"fq.x"}})
			n.Inputs[0] = "fq.x"
		}
		nodes = append(nodes, n)
	}
	g.Nodes = nodes
	return q
}

// TestRefineLosses checks the refinement graph's gradient-matching and diversity losses
// against a host computation from the normalised features and logit differences it outputs,
// for a first batch (its memory bank all padding) and for a second one that also compares with
// the first's memory.
func TestRefineLosses(t *testing.T) {
	rt := orttest.Runtime(t)
	fp := bundledModel(t)
	q := fakeQuant(t, 0.5)
	prev, err := Synthesize(t.Context(), rt, fp, Options{Images: 8, Batch: 4, Steps: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	opts := RefinePaper()
	opts.Zeta = 0.05
	var mem memory
	// One refiner, as Refine keeps: room for the first batch's rows in the memory bank, empty
	// for the first batch, restarted for the second.
	var r *refiner
	for bi, pb := range prev.Batches {
		if r == nil {
			if r, err = newRefiner(rt, fp, q, "resnet20", pb.Generator.Clone(), prev.N-pb.Len, opts); err != nil {
				t.Fatal(err)
			}
			defer r.tr.Close()
		} else if err := r.restart(pb.Generator.Clone()); err != nil {
			t.Fatal(err)
		}
		if err := r.setMemory(&mem); err != nil {
			t.Fatal(err)
		}
		// Some direction: the neighbours differ from the images.
		dir := r.tr.Feed(r.dir)
		for i := range dir {
			dir[i] = float32(math.Sin(float64(i)))
		}
		loss, err := r.tr.Forward()
		if err != nil {
			t.Fatal(err)
		}
		bns, gm, div := r.parts()
		fh, gh := r.tr.Output(r.fh), r.tr.Output(r.gh)
		fhN, ghN := r.tr.Output(r.fhN), r.tr.Output(r.ghN)
		n, df, dg := pb.Len, r.df, r.dg
		dot := func(a, b []float32) float64 {
			var s float64
			for i := range a {
				s += float64(a[i]) * float64(b[i])
			}
			return s
		}
		row := func(x []float32, d, i int) []float32 { return x[i*d : (i+1)*d] }
		var wantGM, wantDiv float64
		for i := 0; i < n; i++ {
			if nf := dot(row(fh, df, i), row(fh, df, i)); math.Abs(nf-1) > 1e-5 {
				t.Fatalf("batch %d: |f̂_%d|² = %v, want 1", bi, i, nf)
			}
			wantGM += dot(row(fh, df, i), row(fhN, df, i)) * dot(row(gh, dg, i), row(ghN, dg, i))
			best := 0.0
			for j := 0; j < n+mem.rows; j++ {
				if j == i {
					continue
				}
				var fj, gj []float32
				if j < n {
					fj, gj = row(fh, df, j), row(gh, dg, j)
				} else {
					fj, gj = row(mem.f, df, j-n), row(mem.g, dg, j-n)
				}
				best = math.Max(best, math.Max(math.Abs(dot(row(fh, df, i), fj)*dot(row(gh, dg, i), gj))-opts.Zeta, 0))
			}
			wantDiv += best
		}
		wantGM = 1 - wantGM/float64(n)
		wantDiv /= float64(n)
		t.Logf("batch %d (memory %d rows): loss %.5f = BNS %.5f + GM %.5f + div %.5f", bi, mem.rows, loss, bns, gm, div)
		// float32 dot products of ≤ 64-element unit vectors: errors ~1e-6.
		if math.Abs(gm-wantGM) > 1e-5 || math.Abs(div-wantDiv) > 1e-5 {
			t.Errorf("batch %d: GM %.6f, div %.6f; host %.6f, %.6f", bi, gm, div, wantGM, wantDiv)
		}
		if math.Abs(loss-(bns+gm+div)) > 1e-5*math.Max(1, loss) {
			t.Errorf("batch %d: loss %.6f ≠ BNS + GM + div = %.6f", bi, loss, bns+gm+div)
		}
		if gm < 1e-4 {
			t.Errorf("batch %d: GM %.3g: neighbours look identical", bi, gm)
		}
		mem.f = append(mem.f, fh...)
		mem.g = append(mem.g, gh...)
		mem.rows += n
		mem.df, mem.dg = df, dg
	}
}

// TestRefine runs the refinement end to end on two batches with raised learning rates, with
// each way of taking the neighbour direction, and checks that the loss falls and the images
// change.
func TestRefine(t *testing.T) {
	rt := orttest.Runtime(t)
	fp := bundledModel(t)
	q := fakeQuant(t, 0.5)
	prev, err := Synthesize(t.Context(), rt, fp, Options{Images: 16, Batch: 8, Steps: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, current := range []bool{false, true} {
		t.Run(fmt.Sprintf("current=%v", current), func(t *testing.T) {
			opts := RefinePaper()
			opts.Steps, opts.LRz, opts.LRg, opts.Gamma = 10, 1e-2, 1e-3, 1
			opts.CurrentDirection = current
			var calls int
			opts.Progress = func(Progress) { calls++ }
			res, err := Refine(t.Context(), rt, fp, q, prev, opts)
			if err != nil {
				t.Fatal(err)
			}
			if calls != 20 || len(res.Batches) != 2 || len(res.Data) != len(prev.Data) {
				t.Fatalf("%d progress calls, %d batches, %d values", calls, len(res.Batches), len(res.Data))
			}
			for i, b := range res.Batches {
				t.Logf("batch %d: loss %.4f → %.4f (BNS %.4f → %.4f, GM %.4f, div %.4f), direction cosine %.3f, %v", i, b.FirstLoss, b.Loss, b.FirstBNS, b.BNS, b.GM, b.Div, b.DirCos, b.Elapsed)
				if b.Loss >= b.FirstLoss {
					t.Errorf("batch %d: loss %.4g after 10 steps, from %.4g", i, b.Loss, b.FirstLoss)
				}
				if !(b.DirCos > -1 && b.DirCos < 1 && b.DirCos != 0) {
					t.Errorf("batch %d: direction cosine %v", i, b.DirCos)
				}
			}
			if e := reftest.RelErr(res.Data, prev.Data); e < 1e-3 || e > 1 {
				t.Errorf("refined images differ from the synthesised ones by %.3g (relative)", e)
			}
			again, err := res.Batches[1].Generator.Generate(rt)
			if err != nil {
				t.Fatal(err)
			}
			if e := reftest.RelErr(again, res.Data[8*32*32:]); e > 1e-5 {
				t.Errorf("images regenerated from the refined generator: relative error %.3g", e)
			}
		})
	}
}

// TestRefineDirection checks the two ways of taking the neighbour direction: they agree on
// the first step (both take it from the pass at the starting parameters) and part after it.
func TestRefineDirection(t *testing.T) {
	rt := orttest.Runtime(t)
	fp := bundledModel(t)
	q := fakeQuant(t, 0.5)
	prev, err := Synthesize(t.Context(), rt, fp, Options{Images: 8, Batch: 8, Steps: 3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	run := func(steps int, current bool) []float32 {
		opts := RefinePaper()
		opts.Steps, opts.LRz, opts.LRg, opts.Gamma = steps, 1e-2, 1e-3, 1
		opts.CurrentDirection = current
		res, err := Refine(t.Context(), rt, fp, q, prev, opts)
		if err != nil {
			t.Fatal(err)
		}
		return res.Data
	}
	if e := reftest.RelErr(run(1, true), run(1, false)); e != 0 {
		t.Errorf("one step: the two directions give images %.3g apart, want identical", e)
	}
	if e := reftest.RelErr(run(3, true), run(3, false)); e < 1e-6 {
		t.Errorf("three steps: the two directions give images %.3g apart, want different", e)
	}
}

// TestRefineResume stops a two-batch refinement after its first batch (through a checkpoint
// that went through gob, as convert saves it) and resumes it: the images must equal an
// uninterrupted run's exactly.
func TestRefineResume(t *testing.T) {
	rt := orttest.Runtime(t)
	fp := bundledModel(t)
	q := fakeQuant(t, 0.5)
	prev, err := Synthesize(t.Context(), rt, fp, Options{Images: 16, Batch: 8, Steps: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	opts := RefinePaper()
	opts.Steps, opts.LRz, opts.LRg = 4, 1e-2, 1e-3
	whole, err := Refine(t.Context(), rt, fp, q, prev, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop after the first batch")
	var saved []byte
	cut := opts
	cut.Checkpoint = func(st *RefineState) error {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(st); err != nil {
			return err
		}
		saved = buf.Bytes()
		return stop
	}
	if _, err := Refine(t.Context(), rt, fp, q, prev, cut); !errors.Is(err, stop) {
		t.Fatalf("interrupted refinement returned %v", err)
	}
	var st RefineState
	if err := gob.NewDecoder(bytes.NewReader(saved)).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Images.Batches) != 1 || st.MemRows != 8 {
		t.Fatalf("checkpoint after batch 1 holds %d batches and %d memory rows", len(st.Images.Batches), st.MemRows)
	}
	resumed := opts
	resumed.Resume = &st
	got, err := Refine(t.Context(), rt, fp, q, prev, resumed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data, whole.Data) {
		t.Errorf("resumed refinement differs from the uninterrupted one (relative %.3g)", reftest.RelErr(got.Data, whole.Data))
	}
}
