// Package infer runs an IR model in ONNX Runtime at a fixed batch size: it fixes the batch,
// folds shapes, encodes the graph once, and keeps one session with pre-allocated tensors that
// every call reuses.
package infer

import (
	"fmt"

	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/internal/ort"
	"github.com/sharpq/sharpq/onnxio"
)

// Session runs a single-input, single-output float32 model on batches of a fixed size.
type Session struct {
	sess          *ort.Session
	input, output string
	// InShape and OutShape are the static shapes with the batch dimension fixed.
	InShape, OutShape []int64
}

// New prepares m (which it does not modify) for batches of size batch.
func New(rt *ort.Runtime, m *ir.Model, batch int) (*Session, error) {
	fixed, err := Static(m, batch)
	if err != nil {
		return nil, err
	}
	g := fixed.Graph
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("infer: model has %d inputs and %d outputs; sharpq runs models with one of each", len(g.Inputs), len(g.Outputs))
	}
	in, out := g.Inputs[0], g.Outputs[0]
	if in.DType != ir.Float32 || out.DType != ir.Float32 {
		return nil, fmt.Errorf("infer: input %q is %s and output %q is %s; sharpq needs float32", in.Name, in.DType, out.Name, out.DType)
	}
	data, err := onnxio.Encode(fixed)
	if err != nil {
		return nil, err
	}
	sess, err := rt.NewSession(data,
		[]ort.TensorSpec{{Name: in.Name, DType: ort.Float32, Shape: in.Shape}},
		[]ort.TensorSpec{{Name: out.Name, DType: ort.Float32, Shape: out.Shape}})
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	return &Session{sess: sess, input: in.Name, output: out.Name, InShape: in.Shape, OutShape: out.Shape}, nil
}

// Static returns a copy of m with its batch dimension fixed and every shape static.
func Static(m *ir.Model, batch int) (*ir.Model, error) {
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, err
	}
	c, err := onnxio.Decode(data, "")
	if err != nil {
		return nil, err
	}
	if err := ir.FixBatch(c, int64(batch)); err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	return c, nil
}

// Input returns the session's input buffer; fill it before Run.
func (s *Session) Input() []float32 { return s.sess.Float32(s.input) }

// Output returns the session's output buffer, valid after Run until the next Run.
func (s *Session) Output() []float32 { return s.sess.Float32(s.output) }

// Run executes the model on the current input buffer.
func (s *Session) Run() error { return s.sess.Run() }

// Close releases the session.
func (s *Session) Close() error { return s.sess.Close() }
