package convert

import (
	"fmt"

	"github.com/sharpq/sharpq/internal/checkpoint"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

// unkeyedOptions are the Options that do not change what a run computes: a work folder
// resumes across them (a run begun on a GPU finishes on a CPU). Every other field is part
// of the run's key (checkpoint.Settings), also those added later.
var unkeyedOptions = []string{"Model", "ModelName", "Memory", "Version", "Log", "WorkDir", "Resume",
	"GenProgress", "ReconProgress", "ImagesReady", "ORTLibrary", "Device", "Threads"}

// runKey identifies the run o describes: its model (the channels-first one it works on, a
// field of its own in the key) and every setting but unkeyedOptions.
func runKey(o Options) (*checkpoint.ID, error) {
	model, err := onnxio.Encode(o.Model)
	if err != nil {
		return nil, fmt.Errorf("convert: work folder key: %w", err)
	}
	if o.Rounding == "" {
		o.Rounding = quantizer.AdaRound
	}
	settings, err := checkpoint.Settings(o, unkeyedOptions...)
	if err != nil {
		return nil, fmt.Errorf("convert: work folder key: %w", err)
	}
	id, err := checkpoint.NewID("convert").Add("the model", model).AddSettings("", settings)
	if err != nil {
		return nil, fmt.Errorf("convert: work folder key: %w", err)
	}
	return id, nil
}
