// Package train runs gradient-descent steps on an IR model in ONNX Runtime: it differentiates
// the graph once (internal/autodiff), builds one session per batch size, keeps parameters and
// Adam state on the host as float32 slices, and updates them between runs. The session's
// input tensors are the parameters themselves, so a step copies nothing but the data batch.
package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/parallel"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// ErrNonFinite is returned (wrapped) when a loss or gradient becomes NaN or infinite.
var ErrNonFinite = errors.New("non-finite value")

// Group is a set of parameters sharing a learning rate and its schedule.
type Group struct {
	Name string  // a label ("round", "z", …); this package does not read it
	LR   float64 // the current learning rate; schedules change it between steps
	// Beta1, Beta2 and Eps are Adam's constants; zero means 0.9, 0.999 and 1e-8.
	Beta1, Beta2, Eps float64
}

// Param is one trainable tensor: a graph input of the model given to New.
type Param struct {
	Name  string // the model's graph input that holds it; gradients are taken with respect to it
	Group *Group // its learning rate and Adam constants
	// Init is the starting value; after New, Data is the live value (the session's input
	// buffer) and Init is no longer used.
	Init []float32
	Data []float32 // the live value after New (the session's input buffer); each step updates it
	Grad []float32 // the gradient of the last step (the session's output buffer)

	m, v []float32
}

// Trainer owns a loss+gradient session and the optimiser state.
type Trainer struct {
	sess     *ort.Session
	loss     string // the session output holding the loss
	lossName string // the loss value as the caller named it
	params   []*Param
	feeds    map[string][]float32
	masks    map[string][]bool
	step     int
	extra    map[string][]float32
	// chunks split the parameters for the host-side work of a step (the finite check and
	// Adam), which runs on workers goroutines: a generator at 224×224 has 100 M parameters.
	chunks  []chunk
	workers int
	bad     []int // per chunk, the first non-finite gradient element (−1: none)
}

// chunk is elements lo…hi−1 of parameter p.
type chunk struct{ p, lo, hi int }

// chunkSize is the number of elements one goroutine updates at a time.
const chunkSize = 1 << 15

// Config describes what New builds.
type Config struct {
	// Loss is the scalar value to minimise.
	Loss string
	// Params are graph inputs to optimise, with their initial values.
	Params []*Param
	// Feeds are the other graph inputs (data), filled through Feed before each step.
	Feeds []string
	// Outputs are extra values to read after each step through Output (e.g. parts of the loss).
	Outputs []string
	// Session configures the ONNX Runtime session.
	Session ort.SessionConfig
}

// New differentiates m (which must have static shapes; it is modified) and opens the session.
func New(rt *ort.Runtime, m *ir.Model, c Config) (*Trainer, error) {
	names := make([]string, len(c.Params))
	for i, p := range c.Params {
		names[i] = p.Name
	}
	grads, err := autodiff.Grad(m, c.Loss, names)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	for _, o := range c.Outputs {
		if !m.Graph.IsOutput(o) {
			v := m.Graph.ValueInfo[o]
			if v == nil {
				return nil, fmt.Errorf("train: no value %q to output", o)
			}
			m.Graph.Outputs = append(m.Graph.Outputs, &ir.Value{Name: o, DType: v.DType, Shape: v.Shape})
		}
	}
	// ORT's binding has no rank-0 tensors: read scalars through a [1] view.
	outNames := append(append([]string{c.Loss}, grads...), c.Outputs...)
	b := autodiff.NewBuilder(m)
	for i, name := range outNames {
		if v := m.Graph.ValueInfo[name]; v != nil && len(v.Shape) == 0 {
			outNames[i] = b.Reshape(name, []int64{1})
			m.Graph.Outputs = append(m.Graph.Outputs, &ir.Value{Name: outNames[i], DType: v.DType, Shape: []int64{1}})
		}
	}
	if b.Err() != nil {
		return nil, fmt.Errorf("train: %w", b.Err())
	}
	lossOut := outNames[0]
	grads = outNames[1 : 1+len(grads)]
	extraOut := outNames[1+len(grads):]
	autodiff.Lower(m)
	ir.PruneDead(m.Graph)
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	spec := func(name string) (ort.TensorSpec, error) {
		v := m.Graph.ValueInfo[name]
		if v == nil || !v.Static() {
			return ort.TensorSpec{}, fmt.Errorf("train: value %q has no static shape", name)
		}
		switch v.DType {
		case ir.Float32:
			return ort.TensorSpec{Name: name, DType: ort.Float32, Shape: v.Shape}, nil
		case ir.Bool:
			return ort.TensorSpec{Name: name, DType: ort.Bool, Shape: v.Shape}, nil
		}
		return ort.TensorSpec{}, fmt.Errorf("train: value %q is %s; the trainer handles float32 and bool", name, v.DType)
	}
	var ins, outs []ort.TensorSpec
	for _, name := range append(append([]string{}, c.Feeds...), names...) {
		s, err := spec(name)
		if err != nil {
			return nil, err
		}
		ins = append(ins, s)
	}
	// A value may be asked for twice (the loss may also be one of its reported parts); ORT
	// takes each output name once and both readers share its buffer.
	seen := map[string]bool{}
	for _, name := range outNames {
		if seen[name] {
			continue
		}
		seen[name] = true
		s, err := spec(name)
		if err != nil {
			return nil, err
		}
		outs = append(outs, s)
	}
	sess, err := rt.NewSessionWithOptions(data, ins, outs, c.Session)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	t := &Trainer{sess: sess, loss: lossOut, lossName: c.Loss, params: c.Params, feeds: map[string][]float32{}, masks: map[string][]bool{}, extra: map[string][]float32{}}
	for _, f := range c.Feeds {
		if sp, _ := sess.Spec(f); sp.DType == ort.Bool {
			t.masks[f] = sess.Bool(f)
			continue
		}
		t.feeds[f] = sess.Float32(f)
	}
	for i, o := range c.Outputs {
		t.extra[o] = sess.Float32(extraOut[i])
	}
	for i, p := range c.Params {
		p.Data = sess.Float32(p.Name)
		if len(p.Init) != len(p.Data) {
			sess.Close()
			return nil, fmt.Errorf("train: parameter %q has %d initial values, the graph wants %d", p.Name, len(p.Init), len(p.Data))
		}
		copy(p.Data, p.Init)
		p.Init = nil
		p.Grad = sess.Float32(grads[i])
		p.m = make([]float32, len(p.Data))
		p.v = make([]float32, len(p.Data))
		for lo := 0; lo < len(p.Data); lo += chunkSize {
			t.chunks = append(t.chunks, chunk{i, lo, min(lo+chunkSize, len(p.Data))})
		}
	}
	t.bad = make([]int, len(t.chunks))
	t.workers = rt.Threads()
	return t, nil
}

// Feed returns the input buffer of data input name; fill it before Step.
func (t *Trainer) Feed(name string) []float32 { return t.feeds[name] }

// FeedBool returns the input buffer of bool data input name (e.g. a dropout mask).
func (t *Trainer) FeedBool(name string) []bool { return t.masks[name] }

// Output returns the buffer of an extra output named in Config.Outputs, valid after Step.
func (t *Trainer) Output(name string) []float32 { return t.extra[name] }

// Params returns the trained parameters (their Data is live).
func (t *Trainer) Params() []*Param { return t.params }

// Steps returns how many steps have run.
func (t *Trainer) Steps() int { return t.step }

// Restart begins a new training run in the same session: each parameter takes its value from
// inits (one slice per Config.Params entry, in that order), Adam's moments are cleared and the
// step count returns to 0. The run that follows is the one a new Trainer with these initial
// values would make (groups' learning rates are the caller's to reset), without building the
// graph and the session again: synthesis trains a fresh generator per batch.
func (t *Trainer) Restart(inits [][]float32) error {
	if len(inits) != len(t.params) {
		return fmt.Errorf("train: restart with %d initial values for %d parameters", len(inits), len(t.params))
	}
	for i, p := range t.params {
		if len(inits[i]) != len(p.Data) {
			return fmt.Errorf("train: restart: parameter %q has %d initial values, the graph wants %d", p.Name, len(inits[i]), len(p.Data))
		}
	}
	for i, p := range t.params {
		copy(p.Data, inits[i])
		clear(p.m)
		clear(p.v)
	}
	t.step = 0
	return nil
}

// Forward runs the graph without updating parameters and returns the loss.
func (t *Trainer) Forward() (float64, error) {
	if err := t.sess.Run(); err != nil {
		return 0, fmt.Errorf("train: step %d: %w", t.step, err)
	}
	return float64(t.sess.Float32(t.loss)[0]), nil
}

// Step runs the graph on the current feeds, checks the loss and every gradient for NaN/Inf,
// and applies one Adam update to every parameter. It returns the loss before the update.
func (t *Trainer) Step() (float64, error) {
	loss, err := t.Forward()
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("train: step %d: loss %q is %v: %w", t.step, t.lossName, loss, ErrNonFinite)
	}
	if err := t.update(); err != nil {
		return loss, err
	}
	return loss, nil
}

// update checks every gradient for NaN/Inf and applies one Adam update to every parameter,
// chunk by chunk on t.workers goroutines (each element's update is the same on any of them).
func (t *Trainer) update() error {
	parallel.For(len(t.chunks), t.workers, func(i int) {
		c := t.chunks[i]
		t.bad[i] = firstNonFinite(t.params[c.p].Grad[c.lo:c.hi])
	})
	for i, c := range t.chunks {
		if t.bad[i] >= 0 {
			p, at := t.params[c.p], c.lo+t.bad[i]
			return fmt.Errorf("train: step %d: gradient of %q is %v at element %d: %w", t.step, p.Name, p.Grad[at], at, ErrNonFinite)
		}
	}
	t.step++
	updates := make([]adamUpdate, len(t.params))
	for i, p := range t.params {
		updates[i] = newAdamUpdate(p.Group, t.step)
	}
	parallel.For(len(t.chunks), t.workers, func(i int) {
		c := t.chunks[i]
		updates[c.p].apply(t.params[c.p], c.lo, c.hi)
	})
	return nil
}

func firstNonFinite(x []float32) int {
	for i, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}

// adamUpdate is one bias-corrected Adam step (Kingma & Ba) of a parameter group.
type adamUpdate struct {
	lr, b1, b2, sc2, eps float32
	skip                 bool // a learning rate of 0 leaves the parameters and moments as they are
}

// newAdamUpdate returns group g's update at step t (1-based).
func newAdamUpdate(g *Group, t int) adamUpdate {
	b1, b2, eps := g.Beta1, g.Beta2, g.Eps
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	c1 := 1 - math.Pow(b1, float64(t))
	c2 := 1 - math.Pow(b2, float64(t))
	return adamUpdate{lr: float32(g.LR / c1), b1: float32(b1), b2: float32(b2), sc2: float32(1 / c2), eps: float32(eps), skip: g.LR == 0}
}

// apply updates elements lo…hi−1 of p and its moments.
func (a adamUpdate) apply(p *Param, lo, hi int) {
	if a.skip {
		return
	}
	for i := lo; i < hi; i++ {
		gr := p.Grad[i]
		m := a.b1*p.m[i] + (1-a.b1)*gr
		v := a.b2*p.v[i] + (1-a.b2)*gr*gr
		p.m[i], p.v[i] = m, v
		p.Data[i] -= a.lr * m / (float32(math.Sqrt(float64(v*a.sc2))) + a.eps)
	}
}

// Close releases the session. Parameter Data slices become invalid: copy them first.
func (t *Trainer) Close() error { return t.sess.Close() }
