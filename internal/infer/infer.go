// Package infer runs an IR model in ONNX Runtime at a fixed batch size: it fixes the batch,
// folds shapes, encodes the graph once, and keeps one session with pre-allocated tensors that
// every call reuses.
package infer

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// Session runs a single-input float32 model on batches of a fixed size.
type Session struct {
	sess    *ort.Session
	input   string
	outputs []string
	// InShape and OutShape are the static shapes of the input and the first output with the
	// batch dimension fixed.
	InShape, OutShape []int64
	shapes            map[string][]int64
}

// New prepares m (which it does not modify) for batches of size batch. The session computes
// the model's single output.
func New(rt *ort.Runtime, m *ir.Model, batch int) (*Session, error) {
	return NewWithOutputs(rt, m, batch, nil)
}

// NewWithOutputs is New with extra intermediate values exposed as outputs (after the model's
// own), readable with OutputOf.
func NewWithOutputs(rt *ort.Runtime, m *ir.Model, batch int, extra []string) (*Session, error) {
	return Open(rt, m, Config{Batch: batch, Outputs: extra})
}

// Config is everything Open takes.
type Config struct {
	Batch   int
	Outputs []string // intermediate values to expose after the model's own output
	Session ort.SessionConfig
}

// Open is the general form of New and NewWithOutputs.
func Open(rt *ort.Runtime, m *ir.Model, c Config) (*Session, error) {
	batch, extra := c.Batch, c.Outputs
	fixed, err := Static(m, batch)
	if err != nil {
		return nil, err
	}
	g := fixed.Graph
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("infer: model has %d inputs and %d outputs; sharpq runs models with one of each", len(g.Inputs), len(g.Outputs))
	}
	in := g.Inputs[0]
	if in.DType != ir.Float32 {
		return nil, fmt.Errorf("infer: input %q is %s; sharpq needs float32", in.Name, in.DType)
	}
	for _, name := range extra {
		if g.IsOutput(name) {
			continue
		}
		v := g.ValueInfo[name]
		if v == nil {
			return nil, fmt.Errorf("infer: model has no value %q", name)
		}
		g.Outputs = append(g.Outputs, &ir.Value{Name: name, DType: v.DType, Shape: v.Shape})
	}
	s := &Session{input: in.Name, InShape: in.Shape, shapes: map[string][]int64{}}
	var outSpecs []ort.TensorSpec
	for _, o := range g.Outputs {
		if o.DType != ir.Float32 {
			return nil, fmt.Errorf("infer: output %q is %s; sharpq needs float32", o.Name, o.DType)
		}
		outSpecs = append(outSpecs, ort.TensorSpec{Name: o.Name, DType: ort.Float32, Shape: o.Shape})
		s.outputs = append(s.outputs, o.Name)
		s.shapes[o.Name] = o.Shape
	}
	s.OutShape = g.Outputs[0].Shape
	data, err := onnxio.Encode(fixed)
	if err != nil {
		return nil, err
	}
	sess, err := rt.NewSessionWithOptions(data, []ort.TensorSpec{{Name: in.Name, DType: ort.Float32, Shape: in.Shape}}, outSpecs, c.Session)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	s.sess = sess
	return s, nil
}

// Static returns a copy of m with its batch dimension fixed and every shape static.
func Static(m *ir.Model, batch int) (*ir.Model, error) {
	c, err := Clone(m)
	if err != nil {
		return nil, err
	}
	if err := ir.FixBatch(c, int64(batch)); err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	return c, nil
}

// Clone returns a deep copy of m (through its encoding).
func Clone(m *ir.Model) (*ir.Model, error) {
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, err
	}
	return onnxio.Decode(data, "")
}

// Input returns the session's input buffer; fill it before Run.
func (s *Session) Input() []float32 { return s.sess.Float32(s.input) }

// Output returns the first output's buffer, valid after Run until the next Run.
func (s *Session) Output() []float32 { return s.sess.Float32(s.outputs[0]) }

// OutputOf returns the buffer of output name.
func (s *Session) OutputOf(name string) []float32 { return s.sess.Float32(name) }

// ShapeOf returns the static shape of output name.
func (s *Session) ShapeOf(name string) []int64 { return s.shapes[name] }

// Run executes the model on the current input buffer.
func (s *Session) Run() error { return s.sess.Run() }

// Close releases the session.
func (s *Session) Close() error { return s.sess.Close() }
