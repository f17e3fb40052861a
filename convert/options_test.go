package convert_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// A setting Run cannot use is an *option.Error named as convert's API spells it, also where
// the check is another package's (ort's Options.LibPath is convert's Options.ORTLibrary).
// Validate finds the same without ONNX Runtime, except what only loading it can tell.
func TestRunBadOptions(t *testing.T) {
	lib := orttest.LibPath(t)
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	tests := []struct {
		name string
		opts convert.Options
		want string // the setting the error names
		ort  bool   // only loading ONNX Runtime finds it
	}{
		{"library not there", convert.Options{ORTLibrary: missing}, "Options.ORTLibrary", true},
		{"negative threads", convert.Options{ORTLibrary: lib, Threads: -1}, "Options.Threads", true},
		{"unknown device", convert.Options{ORTLibrary: lib, Device: "tpu"}, "Options.Device", true},
		{"bits not given", convert.Options{ORTLibrary: missing, Bits: quantizer.Bits{Activation: 4}}, "Bits.Weight", false},
		{"unknown method", convert.Options{ORTLibrary: lib, Method: "zeroq"}, "Options.Method", false},
		{"negative mixtures", convert.Options{ORTLibrary: lib, Mixtures: -1}, "Options.Mixtures", false},
		{"clipping norm below 1", convert.Options{ORTLibrary: lib, Bits: quantizer.DefaultBits(4, 4), ActClipNorm: 0.5}, "Options.ActClipNorm", false},
		{"unknown rounding", convert.Options{ORTLibrary: lib, Bits: quantizer.DefaultBits(4, 4), Rounding: "stochastic"}, "Options.Rounding", false},
		{"negative activation-step rate", convert.Options{ORTLibrary: lib, Bits: quantizer.DefaultBits(4, 4), Schedule: func() convert.Schedule {
			s := convert.Fast()
			s.LRActStep = -1
			return s
		}()}, "Schedule.LRActStep", false},
		{"resume without a work folder", convert.Options{ORTLibrary: lib, Bits: quantizer.DefaultBits(4, 4), Resume: true}, "Options.Resume", false},
		{"schedule without images", convert.Options{ORTLibrary: lib, Schedule: convert.Schedule{Name: "mine"}}, "Schedule.Images", false},
		{"schedule with a negative batch", convert.Options{ORTLibrary: lib, Schedule: func() convert.Schedule {
			s := convert.Fast()
			s.ReconBatch = -1
			return s
		}()}, "Schedule.ReconBatch", false},
		{"SADAG on one image", convert.Options{ORTLibrary: lib, Method: convert.SADAG, Schedule: func() convert.Schedule {
			s := convert.Fast()
			s.Images = 1
			return s
		}()}, "Schedule.Images", false},
		{"SADAG with a last batch of one", convert.Options{ORTLibrary: lib, Method: convert.SADAG, Schedule: func() convert.Schedule {
			s := convert.Fast()
			s.Images = s.GenBatch + 1
			return s
		}()}, "Schedule.Images", false},
		{"SADAG in batches of one", convert.Options{ORTLibrary: lib, Method: convert.SADAG, Schedule: func() convert.Schedule {
			s := convert.Fast()
			s.GenBatch = 1
			return s
		}()}, "Schedule.GenBatch", false},
		{"negative refinement rate", convert.Options{ORTLibrary: lib, Schedule: func() convert.Schedule {
			s := convert.Fast()
			s.RefineLRScale = -1
			return s
		}()}, "Schedule.RefineLRScale", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Model = testmodels.TinyResNet(1)
			if tt.opts.Bits.Weight == 0 && tt.want != "Bits.Weight" {
				tt.opts.Bits = quantizer.DefaultBits(4, 4)
			}
			verr := tt.opts.Validate()
			var vbad *option.Error
			switch {
			case tt.ort && verr != nil:
				t.Errorf("Validate: %v, want nil (only ONNX Runtime can tell)", verr)
			case !tt.ort && (!errors.As(verr, &vbad) || vbad.Name != tt.want):
				t.Errorf("Validate: %v, want an *option.Error naming %s", verr, tt.want)
			}
			_, err := convert.Run(context.Background(), tt.opts)
			var bad *option.Error
			if !errors.As(err, &bad) {
				t.Fatalf("Run: %v, want an *option.Error", err)
			}
			if bad.Name != tt.want || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v (errors.As: %q), want it to name %s", err, bad.Name, tt.want)
			}
			if strings.Contains(err.Error(), "LibPath") {
				t.Errorf("Run: %v names ort's setting", err)
			}
		})
	}
}

// A channels-last model (an [N, H, W, C] input and a Transpose, as TensorFlow converters
// write Keras models) converts like its channels-first original, and its quantized model
// keeps the channels-last interface; the caller's model is left as it was.
func TestRunChannelsLast(t *testing.T) {
	lib := orttest.LibPath(t)
	// Written out without a Name: Run calls it custom.
	tiny := convert.Schedule{Images: 8, GenBatch: 8, GenSteps: 5, WarmUpIters: 2,
		RefineSteps: 1, ReconIters: 5, ReconBatch: 8, ActImages: 8, Swing: true, RefineLRScale: 1}
	run := func(m *ir.Model) *convert.Report {
		t.Helper()
		rep, err := convert.Run(context.Background(), convert.Options{Model: m, Bits: quantizer.DefaultBits(4, 4),
			Schedule: tiny, Seed: 3, Threads: 1, ORTLibrary: lib})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return rep
	}
	nchw := run(testmodels.TinyResNet(1))
	if nchw.Preset != "custom" {
		t.Errorf("a Schedule without a Name reported as preset %q, want custom", nchw.Preset)
	}
	m := testmodels.WithNHWCInput(testmodels.TinyResNet(1))
	before, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	nhwc := run(m)
	after, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("Run changed the caller's model")
	}
	in, orig := nhwc.Quantized.Graph.Inputs[0], m.Graph.Inputs[0]
	if !slices.Equal(in.Shape[1:], orig.Shape[1:]) || nhwc.Quantized.Graph.Nodes[0].OpType != "Transpose" {
		t.Errorf("quantized input %v, first node %s: want the original's %v and a Transpose", in.Shape, nhwc.Quantized.Graph.Nodes[0].OpType, orig.Shape)
	}
	if got, want := nhwc.SelfCheck, nchw.SelfCheck; got.FloatAgreement != want.FloatAgreement || got.OutputSQNR != want.OutputSQNR {
		t.Errorf("self-check %+v from the channels-last model, %+v from the original: want the same run", got, want)
	}
}

// A run resumed from a finished run's work folder takes every stage from it and writes the
// same model; another run's folder is refused with ErrOtherRun, before any work.
func TestRunWorkDir(t *testing.T) {
	lib := orttest.LibPath(t)
	work := t.TempDir()
	tiny := convert.Schedule{Name: "tiny", Images: 8, GenBatch: 8, GenSteps: 5, WarmUpIters: 2,
		RefineSteps: 1, ReconIters: 5, ReconBatch: 8, ActImages: 8, Swing: true, RefineLRScale: 1}
	run := func(seed uint64, resume bool) ([]byte, string, error) {
		t.Helper()
		var log strings.Builder
		rep, err := convert.Run(context.Background(), convert.Options{Model: testmodels.TinyResNet(1), Bits: quantizer.DefaultBits(4, 4),
			Schedule: tiny, Seed: seed, Threads: 1, ORTLibrary: lib, WorkDir: work, Resume: resume,
			Log: func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }})
		if err != nil {
			return nil, log.String(), err
		}
		b, err := onnxio.Encode(rep.Quantized)
		if err != nil {
			t.Fatal(err)
		}
		return b, log.String(), nil
	}
	first, _, err := run(3, false)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	again, log, err := run(3, true)
	if err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	if !bytes.Equal(first, again) {
		t.Error("the resumed run wrote another model")
	}
	for _, want := range []string{"generate: resuming after 1 finished batch", "refine: taken from the checkpoint", "warm-up: not needed", "reconstruct: resuming after"} {
		if !strings.Contains(log, want) {
			t.Errorf("the resumed run's log does not say %q:\n%s", want, log)
		}
	}
	if _, log, err := run(4, true); !errors.Is(err, convert.ErrOtherRun) || strings.Contains(log, "generate:") {
		t.Errorf("resuming with another seed: %v, log %q; want ErrOtherRun before any work", err, log)
	}
}

// WriteModel of a report without a model is an error naming the path, and writes nothing.
func TestWriteModelWithoutModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.onnx")
	for _, rep := range []*convert.Report{nil, {}} {
		if err := rep.WriteModel(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("WriteModel: %v, want an error naming %s", err, path)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("WriteModel left %s behind", path)
		}
	}
}
