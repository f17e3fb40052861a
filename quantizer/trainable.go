package quantizer

import (
	"errors"
	"fmt"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/ir"
)

// CheckTrainable reports a node that reconstruction or synthesis could not differentiate
// (an operator without a gradient rule, say), so that a run fails in its first second rather
// than after the synthesis: it builds, without running, the gradient of the model's output
// with respect to its input and every quantizable layer's weight.
func CheckTrainable(m *ir.Model) error {
	c, err := cloneModel(m)
	if err != nil {
		return err
	}
	if err := ir.FixBatch(c, 1); err != nil {
		return fmt.Errorf("quantizer: %w", err)
	}
	g := c.Graph
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return fmt.Errorf("quantizer: the model has %d inputs and %d outputs; sharpq needs one of each (ir.FirstOutput sets further outputs aside, as the sharpq command does)", len(g.Inputs), len(g.Outputs))
	}
	wrt := []string{g.Inputs[0].Name}
	for _, n := range g.Nodes {
		if IsQuantizable(g, n) {
			wrt = append(wrt, n.Input(1))
		}
	}
	b := autodiff.NewBuilder(c)
	loss := b.ReduceSum(g.Outputs[0].Name, nil, false)
	if err := b.Err(); err != nil {
		return fmt.Errorf("quantizer: %w", err)
	}
	if _, err := autodiff.Grad(c, loss, wrt); err != nil {
		return fmt.Errorf("quantizer: cannot train the model: %w", err)
	}
	return nil
}

// ErrQuantized is returned (wrapped; the message names the model's maker) for a model that
// is quantized already: QDQ nodes hold its weights, so there is nothing float to quantize.
var ErrQuantized = errors.New("the model is quantized already (it has QuantizeLinear/DequantizeLinear nodes): quantize its float original")

// CheckFloat refuses a model that is quantized already, which would otherwise fail later
// with a message about missing layers or BatchNormalization statistics.
func CheckFloat(m *ir.Model) error {
	for _, n := range m.Graph.Nodes {
		if n.Domain == "" && (n.OpType == "QuantizeLinear" || n.OpType == "DequantizeLinear") {
			for _, kv := range m.Metadata {
				if kv.Key == "sharpq.version" || kv.Key == "sharpq.bits" {
					return fmt.Errorf("quantizer: %w (this one was made by sharpq)", ErrQuantized)
				}
			}
			return fmt.Errorf("quantizer: %w", ErrQuantized)
		}
	}
	return nil
}
