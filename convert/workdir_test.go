package convert

import (
	"testing"

	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// Every keyed setting and the model change the key; what only changes how or where the run
// goes does not.
func TestRunKey(t *testing.T) {
	base := func() Options {
		return Options{Model: testmodels.TinyResNet(1), Bits: quantizer.DefaultBits(4, 4), Method: SADAG, Schedule: Fast(), Rounding: quantizer.AdaRound}
	}
	key := func(o Options) string {
		t.Helper()
		k, err := runKey(o)
		if err != nil {
			t.Fatal(err)
		}
		return k.Key()
	}
	want := key(base())
	tests := []struct {
		name string
		edit func(*Options)
		same bool
	}{
		{"model", func(o *Options) { o.Model = testmodels.TinyResNet(2) }, false},
		{"weight bits", func(o *Options) { o.Bits.Weight = 2 }, false},
		{"layer bits", func(o *Options) { o.Bits.PerLayer = map[string]int{"conv": 8} }, false},
		{"symmetric", func(o *Options) { o.Symmetric = true }, false},
		{"asymmetric activations", func(o *Options) { o.AsymmetricActs = true }, false},
		{"float residual", func(o *Options) { o.FloatResidual = true }, false},
		{"equalize", func(o *Options) { o.Equalize = true }, false},
		{"equalize streams", func(o *Options) { o.EqualizeStreams = true }, false},
		{"clip norm", func(o *Options) { o.ActClipNorm = 2 }, false},
		{"bias correction", func(o *Options) { o.BiasCorrection = true }, false},
		{"mirror", func(o *Options) { o.Mirror = true }, false},
		{"mixtures", func(o *Options) { o.Mixtures = 10 }, false},
		{"rounding", func(o *Options) { o.Rounding = quantizer.FlexRound }, false},
		{"method", func(o *Options) { o.Method = GENIE }, false},
		{"schedule", func(o *Options) { o.Schedule.GenSteps++ }, false},
		{"seed", func(o *Options) { o.Seed = 1 }, false},
		{"generation batches at once", func(o *Options) { o.GenParallel = 2 }, false},
		{"AdaRound by its empty name", func(o *Options) { o.Rounding = "" }, true},
		{"device", func(o *Options) { o.Device = "cuda" }, true},
		{"threads", func(o *Options) { o.Threads = 2 }, true},
		{"model name and version", func(o *Options) { o.ModelName, o.Version = "m.onnx", "v1" }, true},
		{"work folder", func(o *Options) { o.WorkDir, o.Resume = "elsewhere", true }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.edit(&o)
			if got := key(o); (got == want) != tt.same {
				t.Errorf("key %s, base %s: same = %v, want %v", got, want, got == want, tt.same)
			}
		})
	}
}
