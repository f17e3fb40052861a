package convert_test

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/checkpoint"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// Estimate predicts each stage Run would run, in Run's order and with Run's stage names,
// from steps it timed: the units and steps are the schedule's, every stage's time is its
// steps plus its time outside them, and nothing is written.
func TestEstimate(t *testing.T) {
	lib := orttest.LibPath(t)
	tiny := convert.Schedule{Name: "tiny", Images: 12, GenBatch: 4, GenSteps: 7, WarmUpIters: 4,
		RefineSteps: 3, ReconIters: 9, ReconBatch: 4, ActImages: 8, Swing: true, RefineLRScale: 1}
	rep, err := convert.Run(context.Background(), convert.Options{Model: testmodels.TinyResNet(1), Bits: quantizer.DefaultBits(4, 4),
		Method: convert.GENIE, Schedule: tiny, Threads: 1, ORTLibrary: lib})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	blocks := len(rep.Blocks)
	tests := []struct {
		method  convert.Method
		threads int
		want    []convert.StageEstimate // names, units, steps and parallel
	}{
		{convert.SADAG, 1, []convert.StageEstimate{
			{Name: "generate", Units: 3, Steps: 7, Parallel: 1},
			{Name: "warm-up reconstruction", Units: blocks, Steps: 4, Parallel: 1},
			{Name: "refine", Units: 3, Steps: 3, Parallel: 1},
			{Name: "reconstruct+export", Units: blocks, Steps: 9, Parallel: 1},
		}},
		{convert.GENIE, 2, []convert.StageEstimate{
			{Name: "generate", Units: 3, Steps: 7, Parallel: 2},
			{Name: "reconstruct+export", Units: blocks, Steps: 9, Parallel: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.method), func(t *testing.T) {
			work := filepath.Join(t.TempDir(), "work")
			o := convert.Options{Model: testmodels.TinyResNet(1), Bits: quantizer.DefaultBits(4, 4), Method: tt.method,
				Schedule: tiny, Mirror: true, Mixtures: 5, BiasCorrection: true, Seed: 1, Threads: tt.threads, ORTLibrary: lib,
				WorkDir: work, ImagesReady: func(*generator.Images) error { return errors.New("ImagesReady called") }}
			est, err := convert.Estimate(context.Background(), o, 2)
			if err != nil {
				t.Fatalf("Estimate: %v", err)
			}
			if len(est.Stages) != len(tt.want) {
				t.Fatalf("stages %+v, want %d", est.Stages, len(tt.want))
			}
			var sum float64
			for i, st := range est.Stages {
				w := tt.want[i]
				if st.Name != w.Name || st.Units != w.Units || st.Steps != w.Steps || st.Parallel != w.Parallel {
					t.Errorf("stage %d: %+v, want %s of %d units × %d steps, %d at once", i, st, w.Name, w.Units, w.Steps, w.Parallel)
				}
				if st.StepSeconds <= 0 || st.OtherSeconds < 0 {
					t.Errorf("%s: %g s per step, %g s outside the steps: want them measured", st.Name, st.StepSeconds, st.OtherSeconds)
				}
				if got := st.OtherSeconds + float64(st.Steps)*st.StepSeconds*float64(rounds(st)); math.Abs(got-st.Seconds) > 1e-9*got {
					t.Errorf("%s: %g s, want its steps and the rest, %g s", st.Name, st.Seconds, got)
				}
				sum += st.Seconds
			}
			if math.Abs(sum-est.Seconds) > 1e-9*sum || est.Measured <= 0 {
				t.Errorf("total %g s (measured in %g s), want the stages' sum %g s", est.Seconds, est.Measured, sum)
			}
			if est.Device != "cpu" || est.Threads != tt.threads || est.Method != string(tt.method) || est.Preset != "tiny" {
				t.Errorf("estimate of %s on %s with %d threads (%s preset): want %s, cpu, %d, tiny", est.Method, est.Device, est.Threads, est.Preset, tt.method, tt.threads)
			}
			if _, err := os.Stat(work); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Estimate created the work folder %s", work)
			}
		})
	}
}

// rounds is how many times a stage's units run their steps one after another.
func rounds(st convert.StageEstimate) int {
	switch st.Name {
	case "generate":
		return (st.Units + st.Parallel - 1) / st.Parallel
	case "refine":
		return st.Units
	}
	return 1 // reconstruction: StepSeconds is already the sum over blocks
}

// Estimate refuses what Run refuses, with the same error.
func TestEstimateBadOptions(t *testing.T) {
	lib := orttest.LibPath(t)
	for _, o := range []convert.Options{
		{ORTLibrary: filepath.Join(t.TempDir(), "libonnxruntime.so.1"), Bits: quantizer.DefaultBits(4, 4)},
		{ORTLibrary: filepath.Join(t.TempDir(), "libonnxruntime.so.1")},
		{ORTLibrary: lib, Method: "zeroq"},
		{ORTLibrary: lib, Bits: quantizer.DefaultBits(4, 4), Rounding: "stochastic"},
		{ORTLibrary: lib, Schedule: convert.Schedule{Name: "mine"}},
	} {
		o.Model = testmodels.TinyResNet(1)
		_, runErr := convert.Run(context.Background(), o)
		_, estErr := convert.Estimate(context.Background(), o, 1)
		if runErr == nil || estErr == nil || runErr.Error() != estErr.Error() {
			t.Errorf("Estimate: %v; Run: %v; want the same error", estErr, runErr)
		}
	}
	if _, err := convert.Estimate(context.Background(), convert.Options{Model: testmodels.TinyResNet(1), ORTLibrary: lib}, -1); err == nil {
		t.Error("Estimate of -1 steps: no error")
	}
}

// With Resume, Estimate reads the run's work folder and leaves out what is finished there:
// a finished run has only the final reconstruction's set-up, export and self-check left; with one
// generated batch and one reconstructed block saved, those units' steps are not counted. A
// folder of another run is refused as Run refuses it, and nothing is written.
func TestEstimateResumed(t *testing.T) {
	lib := orttest.LibPath(t)
	tiny := convert.Schedule{Name: "tiny", Images: 12, GenBatch: 4, GenSteps: 7, WarmUpIters: 4,
		RefineSteps: 3, ReconIters: 9, ReconBatch: 4, ActImages: 8, Swing: true, RefineLRScale: 1}
	work := filepath.Join(t.TempDir(), "work")
	o := convert.Options{Model: testmodels.TinyResNet(1), Bits: quantizer.DefaultBits(4, 4), Method: convert.SADAG,
		Schedule: tiny, Seed: 1, Threads: 1, ORTLibrary: lib, WorkDir: work}
	if _, err := convert.Run(context.Background(), o); err != nil {
		t.Fatalf("Run: %v", err)
	}
	o.Resume = true
	fresh := o
	fresh.WorkDir, fresh.Resume = "", false
	whole, err := convert.Estimate(context.Background(), fresh, 2)
	if err != nil {
		t.Fatal(err)
	}
	stage := func(est *convert.TimeEstimate, name string) convert.StageEstimate {
		for _, st := range est.Stages {
			if st.Name == name {
				return st
			}
		}
		t.Fatalf("no stage %s in %+v", name, est.Stages)
		return convert.StageEstimate{}
	}

	finished, err := convert.Estimate(context.Background(), o, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !finished.Resumed || whole.Resumed {
		t.Errorf("Resumed %v with the work folder, %v without: want true, false", finished.Resumed, whole.Resumed)
	}
	for _, st := range finished.Stages {
		want := st.OtherSeconds // the final reconstruction's set-up, export and self-check
		if st.Name != "reconstruct+export" {
			want = 0 // the warm-up too: the refined images are saved
		}
		if st.Done != st.Units || math.Abs(st.Seconds-want) > 1e-9 {
			t.Errorf("finished run, %s: %d of %d units done, %g s left; want all done and %g s", st.Name, st.Done, st.Units, st.Seconds, want)
		}
	}

	// Keep one generated batch and one reconstructed block of the final reconstruction.
	cp := checkpoint.Held(work)
	var images generator.Images
	if ok, err := cp.Load("generate", &images); !ok || err != nil {
		t.Fatalf("generate state: %v, %v", ok, err)
	}
	images.Batches = images.Batches[:1]
	images.N = images.Batches[0].Len
	images.Data = images.Data[:images.N*images.C*images.H*images.W]
	var recon quantizer.ReconState
	if ok, err := cp.Load("reconstruct", &recon); !ok || err != nil {
		t.Fatalf("reconstruct state: %v, %v", ok, err)
	}
	recon.Blocks = 1
	for name, v := range map[string]any{"generate": &images, "reconstruct": recon} {
		if err := cp.Save(name, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"warmup", "refine"} {
		if err := cp.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadDir(work)
	part, err := convert.Estimate(context.Background(), o, 2)
	if err != nil {
		t.Fatal(err)
	}
	gen, rec := stage(part, "generate"), stage(part, "reconstruct+export")
	if gen.Done != 1 || rec.Done != 1 || stage(part, "warm-up reconstruction").Done != 0 || stage(part, "refine").Done != 0 {
		t.Fatalf("stages %+v: want 1 batch generated and 1 block reconstructed", part.Stages)
	}
	if want := float64((gen.Units-1+gen.Parallel-1)/gen.Parallel) * (gen.OtherSeconds/float64((gen.Units-1+gen.Parallel-1)/gen.Parallel) + float64(gen.Steps)*gen.StepSeconds); math.Abs(gen.Seconds-want) > 1e-9*want {
		t.Errorf("generate: %g s left, want the two batches left, %g s", gen.Seconds, want)
	}
	if !(rec.Seconds > rec.OtherSeconds && rec.Seconds < rec.OtherSeconds+float64(rec.Steps)*rec.StepSeconds) {
		t.Errorf("reconstruct+export: %g s left; want more than its %g s outside the steps and less than all %d blocks' steps", rec.Seconds, rec.OtherSeconds, rec.Units)
	}
	if after, _ := os.ReadDir(work); len(after) != len(before) {
		t.Errorf("Estimate changed the work folder: %d entries, then %d", len(before), len(after))
	}

	other := o
	other.Seed = 2
	if _, err := convert.Estimate(context.Background(), other, 2); !errors.Is(err, convert.ErrOtherRun) {
		t.Errorf("Estimate of another run's folder: %v, want ErrOtherRun", err)
	}
}
