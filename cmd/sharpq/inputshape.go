package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/urfave/cli/v2"
)

// inputShapeUsage is the --input-shape flag's help.
const inputShapeUsage = "C×H×W of the model's input (e.g. 3x224x224), for a model exported with dynamic channels, height or width"

// inputForm is how a model's input differs from the channels-first float32 images every
// command works on; restoreLayout gives a model made from it that interface back.
type inputForm struct {
	channelsLast bool // [N, H, W, C] with a Transpose to channels-first (ir.ChannelsFirstInput)
	pixels       bool // uint8 pixels cast to float (ir.FloatPixelInput)
	// extra holds the outputs beside the logits, which every command leaves aside
	// (ir.FirstOutput); nil for a model with one output.
	extra *ir.ExtraOutputs
}

// readOptions are the flags that say how to read a model: --input-shape and --logits.
type readOptions struct {
	shape  string // C×H×W for the input's dynamic dimensions; "" for none
	logits string // the output that holds the logits; "" for the first
}

// readOptionsOf returns the command's --input-shape and --logits.
func readOptionsOf(c *cli.Context) readOptions {
	return readOptions{shape: c.String("input-shape"), logits: c.String("logits")}
}

// logitsFlag is the --logits flag of every command that reads a model.
func logitsFlag() cli.Flag {
	return &cli.StringFlag{Name: "logits", Usage: "the output that holds the logits, for a model with several (default: the first); the others are kept in quantized models"}
}

// readModel reads the model at path and fixes its dynamic input dimensions from --input-shape.
// With check, a dimension other than the batch that is still dynamic is an error that names
// the flag.
func readModel(path string, o readOptions, check bool) (m *ir.Model, form inputForm, err error) {
	m, err = onnxio.Read(path)
	if err != nil {
		return nil, form, err
	}
	// Every command works channels-first on float32 images in [0,1] (data included) and on the
	// logits output; a channels-last or uint8 model gets its interface back, and a model with
	// more outputs the others, when it is written (restoreLayout).
	form.channelsLast = ir.ChannelsFirstInput(m)
	form.pixels = ir.FloatPixelInput(m)
	if form.extra, err = ir.FirstOutput(m, o.logits); err != nil {
		return nil, form, usageError{fmt.Errorf("--logits %q: %s: %w", o.logits, path, err)}
	}
	if o.shape != "" {
		if err := setInputShape(m, o.shape); err != nil {
			return nil, form, usageError{fmt.Errorf("--input-shape %q: %s: %w", o.shape, path, err)}
		}
	}
	if check {
		if err := ir.CheckStaticInputs(m.Graph); err != nil {
			return nil, form, fmt.Errorf("%s: %w (give them with --input-shape C×H×W)", path, err)
		}
	}
	return m, form, nil
}

// restoreLayout gives a model made from one readModel rewrote that model's interface back.
func restoreLayout(m *ir.Model, form inputForm) error {
	if err := form.extra.Restore(m); err != nil {
		return err
	}
	if form.pixels {
		if err := ir.IntegerPixelInput(m); err != nil {
			return err
		}
	}
	if form.channelsLast {
		return ir.ChannelsLastInput(m)
	}
	return nil
}

// setInputShape sets the dynamic dimensions 1–3 of m's single NCHW input to shape ("CxHxW");
// a static dimension must already have the given size.
func setInputShape(m *ir.Model, shape string) error {
	parts := strings.FieldsFunc(shape, func(r rune) bool { return r == 'x' || r == '×' || r == ',' })
	if len(parts) != 3 {
		return fmt.Errorf("want C×H×W, three sizes")
	}
	dims := make([]int64, 3)
	for i, p := range parts {
		d, err := strconv.ParseInt(p, 10, 64)
		if err != nil || d <= 0 {
			return fmt.Errorf("size %q is not a positive integer", p)
		}
		dims[i] = d
	}
	if len(m.Graph.Inputs) != 1 || len(m.Graph.Inputs[0].Shape) != 4 {
		return fmt.Errorf("the model needs one input of rank 4 (N C H W)")
	}
	v := m.Graph.Inputs[0]
	for i, d := range dims {
		switch cur := v.Shape[i+1]; {
		case cur < 0:
			v.Shape[i+1] = d
			if i+1 < len(v.DimNames) {
				v.DimNames[i+1] = ""
			}
		case cur != d:
			return fmt.Errorf("input %q has %d in dimension %d, not %d", v.Name, cur, i+1, d)
		}
	}
	return nil
}
