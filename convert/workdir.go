package convert

import (
	"encoding/json"
	"fmt"

	"github.com/sharpq/sharpq/internal/checkpoint"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

// keyedSettings are the Options that decide what a run computes: a work folder resumes
// only a run whose model and keyedSettings match. What only changes where or how fast it
// runs (Device, Threads), what it is called or logs, is not in it, so that a run begun on
// a GPU can be finished on a CPU. TestRunKeyCoversOptions keeps it in step with Options.
type keyedSettings struct {
	Bits            quantizer.Bits
	Symmetric       bool
	AsymmetricActs  bool
	FloatResidual   bool
	Equalize        bool
	EqualizeStreams bool
	ActClipNorm     float64
	BiasCorrection  bool
	Mirror          bool
	Mixtures        int
	Rounding        quantizer.Rounding
	Method          Method
	Schedule        Schedule
	Seed            uint64
	GenParallel     int
}

// runKey identifies the run o describes: its model (the channels-first one it works on) and
// its keyedSettings.
func runKey(o Options) (string, error) {
	model, err := onnxio.Encode(o.Model)
	if err != nil {
		return "", fmt.Errorf("convert: work folder key: %w", err)
	}
	rounding := o.Rounding
	if rounding == "" {
		rounding = quantizer.AdaRound
	}
	settings, err := json.Marshal(keyedSettings{
		Bits: o.Bits, Symmetric: o.Symmetric, AsymmetricActs: o.AsymmetricActs, FloatResidual: o.FloatResidual,
		Equalize: o.Equalize, EqualizeStreams: o.EqualizeStreams, ActClipNorm: o.ActClipNorm, BiasCorrection: o.BiasCorrection,
		Mirror: o.Mirror, Mixtures: o.Mixtures, Rounding: rounding, Method: o.Method, Schedule: o.Schedule, Seed: o.Seed,
		GenParallel: o.GenParallel,
	})
	if err != nil {
		return "", fmt.Errorf("convert: work folder key: %w", err)
	}
	return checkpoint.Key([]byte("convert"), model, settings), nil
}
