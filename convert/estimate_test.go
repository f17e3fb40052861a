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
