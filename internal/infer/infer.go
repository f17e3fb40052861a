// Package infer runs an IR model in ONNX Runtime at a fixed batch size: it fixes the batch,
// folds shapes, encodes the graph once, and keeps one session with pre-allocated tensors that
// every call reuses.
package infer

import (
	"fmt"

	"github.com/x448/float16"

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

	// in and out stage a half-precision interface's tensors in float32 (nil otherwise).
	in, out []float32
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
	Batch   int               // images per Run: the batch dimension the model is fixed to
	Outputs []string          // intermediate values to expose after the model's own output
	Session ort.SessionConfig // ONNX Runtime settings (threads, optimization level, …)
	// AsWritten runs a half-precision model in its own types, as its users run it in ONNX
	// Runtime, instead of promoted to float32 (ir.PromoteToFloat32); Input and Output stay
	// float32 and are converted at the model's boundary. Not with Outputs.
	AsWritten bool
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
		return nil, fmt.Errorf("infer: model has %d inputs and %d outputs; sharpq runs models with one of each (ir.FirstOutput sets further outputs aside, as the sharpq command does)", len(g.Inputs), len(g.Outputs))
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
	inSpec := ort.TensorSpec{Name: in.Name, DType: ort.Float32, Shape: in.Shape}
	model := fixed
	if c.AsWritten && len(extra) == 0 && halfPrecision(m) {
		// fixed's shapes, m's types and nodes: ORT takes the batch from the tensors.
		if model, err = Clone(m); err != nil {
			return nil, err
		}
		if inSpec.DType, err = boundary(model.Graph.Inputs[0]); err != nil {
			return nil, err
		}
		if outSpecs[0].DType, err = boundary(model.Graph.Outputs[0]); err != nil {
			return nil, err
		}
		if inSpec.DType == ort.Float16 {
			s.in = make([]float32, ir.NumElements(in.Shape))
		}
		if outSpecs[0].DType == ort.Float16 {
			s.out = make([]float32, ir.NumElements(s.OutShape))
		}
	}
	data, err := onnxio.Encode(model)
	if err != nil {
		return nil, err
	}
	sess, err := rt.NewSessionWithOptions(data, []ort.TensorSpec{inSpec}, outSpecs, c.Session)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	s.sess = sess
	return s, nil
}

// halfPrecision reports whether m has a float16 or bfloat16 input, output or initializer.
func halfPrecision(m *ir.Model) bool {
	g := m.Graph
	for _, v := range append(append([]*ir.Value{}, g.Inputs...), g.Outputs...) {
		if v.DType == ir.Float16 || v.DType == ir.BFloat16 {
			return true
		}
	}
	for _, t := range g.Initializers {
		if t.DType == ir.Float16 || t.DType == ir.BFloat16 {
			return true
		}
	}
	return false
}

// boundary returns the ORT type of a model input or output that runs as written.
func boundary(v *ir.Value) (ort.DType, error) {
	switch v.DType {
	case ir.Float32:
		return ort.Float32, nil
	case ir.Float16:
		return ort.Float16, nil
	}
	return 0, fmt.Errorf("infer: %q is %s; sharpq feeds and reads float32 or float16", v.Name, v.DType)
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
func (s *Session) Input() []float32 {
	if s.in != nil {
		return s.in
	}
	return s.sess.Float32(s.input)
}

// Output returns the first output's buffer, valid after Run until the next Run.
func (s *Session) Output() []float32 {
	if s.out != nil {
		return s.out
	}
	return s.sess.Float32(s.outputs[0])
}

// OutputOf returns the buffer of output name.
func (s *Session) OutputOf(name string) []float32 { return s.sess.Float32(name) }

// ShapeOf returns the static shape of output name.
func (s *Session) ShapeOf(name string) []int64 { return s.shapes[name] }

// Run executes the model on the current input buffer.
func (s *Session) Run() error {
	if s.in != nil {
		h := s.sess.Float16(s.input)
		for i, v := range s.in {
			h[i] = float16.Fromfloat32(v).Bits()
		}
	}
	if err := s.sess.Run(); err != nil {
		return err
	}
	if s.out != nil {
		for i, b := range s.sess.Float16(s.outputs[0]) {
			s.out[i] = float16.Frombits(b).Float32()
		}
	}
	return nil
}

// Close releases the session.
func (s *Session) Close() error { return s.sess.Close() }
