package ort

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// DType is the element type of a tensor.
type DType int

// The supported element types. The zero DType is invalid.
const (
	Float32 DType = iota + 1
	Float64
	Int64
	Bool
	// Float16 tensors are read and written as IEEE half-precision bit patterns (uint16), for
	// models with a half-precision interface.
	Float16
	// Uint8 tensors hold 8-bit pixels, for models whose input is raw image bytes.
	Uint8
)

// String returns the lowercase Go name of the element type, e.g. "float32".
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	case Float16:
		return "float16"
	case Uint8:
		return "uint8"
	}
	return "DType(" + strconv.Itoa(int(d)) + ")"
}

// TensorSpec describes one model input or output: its name in the ONNX
// graph, its element type and its fixed shape (every dimension >= 0, at
// least one dimension).
type TensorSpec struct {
	Name  string  // input or output name in the ONNX graph
	DType DType   // element type
	Shape []int64 // fixed dimensions, each >= 0; at least one
}

// SessionConfig holds optional per-session settings for
// NewSessionWithOptions. The zero value gives the defaults used by
// NewSession.
type SessionConfig struct {
	// ProfilePrefix, when not empty, enables ONNX Runtime's profiler; the
	// JSON trace is written to a file named ProfilePrefix + "_<timestamp>.json"
	// when the session is closed.
	ProfilePrefix string
	// Optimization limits ONNX Runtime's graph optimizations; the zero value enables all.
	Optimization Optimization
	// Entries are extra session configuration entries (ONNX Runtime's
	// onnxruntime_session_options_config_keys.h), e.g. "session.disable_quant_qdq": "1".
	Entries map[string]string
	// OptimizedModelPath, when set, makes ONNX Runtime save the optimized graph there.
	OptimizedModelPath string
	// Threads, when positive, replaces the Runtime's intra-op thread count for this session
	// (e.g. to run two sessions side by side, one thread each).
	Threads int
}

// Optimization is a level of ONNX Runtime graph optimization.
type Optimization int

// Optimization levels. OptimizeBasic keeps constant folding and redundant-node removal but
// not the fusions (such as QDQ → QLinearConv) that change numerics.
const (
	OptimizeAll Optimization = iota
	OptimizeBasic
	OptimizeNone
)

// Session is an ONNX model loaded into ONNX Runtime together with input and
// output tensors allocated once and reused by every Run. Fill the inputs
// through the slices returned by Float32, Float64 or Int64, call Run, then
// read the outputs the same way.
//
// Run, Close and the slices' contents must not be used from several
// goroutines at once; Run and Close are serialized, but the data slices are
// plain memory. Use one Session per goroutine for parallel inference.
type Session struct {
	rt *Runtime

	mu      sync.Mutex
	closed  bool
	sess    *onnxruntime.AdvancedSession
	tensors map[string]*tensor
	order   []*tensor // creation order, for Close
}

// tensor is one pre-allocated input or output. Exactly one of the typed
// slices is set, and it aliases the memory of value.
type tensor struct {
	spec  TensorSpec
	value onnxruntime.Value
	f32   []float32
	f64   []float64
	i64   []int64
	b     []bool
	f16   []uint16
	u8    []uint8
}

// NewSession loads the ONNX model in model (serialized ModelProto bytes) with
// the runtime's device and thread settings, and pre-allocates one tensor per
// entry of inputs and outputs. Every graph input the model needs must be
// listed in inputs; outputs may list any subset of the graph outputs. Names,
// element types and fixed dimensions are checked against the model. The
// caller must Close the session (closing the Runtime also closes it).
func (r *Runtime) NewSession(model []byte, inputs, outputs []TensorSpec) (*Session, error) {
	return r.NewSessionWithOptions(model, inputs, outputs, SessionConfig{})
}

// NewSessionWithOptions is NewSession with extra per-session settings.
func (r *Runtime) NewSessionWithOptions(model []byte, inputs, outputs []TensorSpec, cfg SessionConfig) (_ *Session, err error) {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return nil, errors.New("ort: new session: runtime is closed")
	}
	if len(model) == 0 {
		return nil, errors.New("ort: new session: empty model")
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, fmt.Errorf("ort: new session: need at least one input and one output (got %d and %d)",
			len(inputs), len(outputs))
	}

	s := &Session{rt: r, tensors: make(map[string]*tensor, len(inputs)+len(outputs))}
	defer func() {
		if err != nil {
			s.destroy()
		}
	}()
	inNames, inValues, err := s.allocate(inputs)
	if err != nil {
		return nil, err
	}
	outNames, outValues, err := s.allocate(outputs)
	if err != nil {
		return nil, err
	}

	so, err := r.sessionOptions(cfg)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()

	s.sess, err = onnxruntime.NewAdvancedSessionWithONNXData(model, inNames, outNames, inValues, outValues, so)
	if err != nil {
		return nil, fmt.Errorf("ort: new session (device %s): %w", r.device, err)
	}
	if err := checkSpecs(model, inputs, outputs); err != nil {
		return nil, err
	}

	r.mu.Lock()
	r.sessions[s] = struct{}{}
	r.mu.Unlock()
	return s, nil
}

// sessionOptions builds the ONNX Runtime session options for r and cfg. The
// caller must Destroy the result.
func (r *Runtime) sessionOptions(cfg SessionConfig) (_ *onnxruntime.SessionOptions, err error) {
	so, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	defer func() {
		if err != nil {
			so.Destroy()
		}
	}()
	var level onnxruntime.GraphOptimizationLevel = onnxruntime.GraphOptimizationLevelEnableAll
	switch cfg.Optimization {
	case OptimizeBasic:
		level = onnxruntime.GraphOptimizationLevelEnableBasic
	case OptimizeNone:
		level = onnxruntime.GraphOptimizationLevelDisableAll
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return nil, fmt.Errorf("ort: session options: graph optimization level: %w", err)
	}
	threads := r.threads
	if cfg.Threads > 0 {
		threads = cfg.Threads
	}
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("ort: session options: intra-op threads: %w", err)
	}
	if r.device == DeviceCPU {
		// ONNX Runtime's memory pattern (a layout of each run's tensors planned from the
		// first run) took a third more resident memory on ImageNet-size graphs and gained no
		// time (BENCHMARKS.md, "Memory at ImageNet size"). The outputs are the same bytes.
		if err := so.SetMemPattern(false); err != nil {
			return nil, fmt.Errorf("ort: session options: memory pattern: %w", err)
		}
	}
	keys := make([]string, 0, len(cfg.Entries))
	for k := range cfg.Entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := so.AddSessionConfigEntry(k, cfg.Entries[k]); err != nil {
			return nil, fmt.Errorf("ort: session options: entry %q: %w", k, err)
		}
	}
	if cfg.OptimizedModelPath != "" {
		if err := so.SetOptimizedModelFilePath(cfg.OptimizedModelPath); err != nil {
			return nil, fmt.Errorf("ort: session options: optimized model path: %w", err)
		}
	}
	if cfg.ProfilePrefix != "" {
		if err := so.EnableProfiling(cfg.ProfilePrefix); err != nil {
			return nil, fmt.Errorf("ort: session options: enable profiling: %w", err)
		}
	}
	if r.device == DeviceCUDA {
		if err := r.appendCUDA(so); err != nil {
			return nil, err
		}
	}
	return so, nil
}

// appendCUDA adds the CUDA execution provider, on GPU r.cudaID, to so.
func (r *Runtime) appendCUDA(so *onnxruntime.SessionOptions) error {
	unavailable := func(cause error) error {
		return fmt.Errorf("ort: CUDA execution provider unavailable in %s "+
			"(this library is CPU-only or no GPU is present): %w", r.lib, oneLine(cause))
	}
	cuda, err := onnxruntime.NewCUDAProviderOptions()
	if err != nil {
		return unavailable(err)
	}
	defer cuda.Destroy()
	// TF32 rounds convolution inputs to a 10-bit mantissa, enough to move dequantized values
	// across the next QuantizeLinear's rounding boundaries: a QDQ model would then score
	// differently on CUDA than on CPU and in the simulation.
	opts := map[string]string{"device_id": strconv.Itoa(r.cudaID), "use_tf32": "0"}
	if err := cuda.Update(opts); err != nil {
		return unavailable(err)
	}
	if err := so.AppendExecutionProviderCUDA(cuda); err != nil {
		return unavailable(err)
	}
	return nil
}

// checkSpecs compares the requested tensors with the model's declared inputs
// and outputs, so that a wrong name, type or shape is reported when the
// session is created rather than as an obscure failure of the first Run
// (onnxruntime_go's AdvancedSession checks none of this itself). Dynamic
// dimensions in the model match any size. If the model cannot be introspected
// (e.g. it has non-tensor inputs) nothing is checked here.
func checkSpecs(model []byte, inputs, outputs []TensorSpec) error {
	// Read from the model's bytes: onnxruntime_go's GetInputOutputInfoWithONNXData would
	// load the model into a second, temporary session, as costly as the real one.
	ins, outs, err := modelIO(model)
	if err != nil {
		return nil
	}
	if err := checkSide("input", ins, inputs); err != nil {
		return err
	}
	return checkSide("output", outs, outputs)
}

func checkSide(side string, infos []onnxruntime.InputOutputInfo, specs []TensorSpec) error {
	byName := make(map[string]*onnxruntime.InputOutputInfo, len(infos))
	names := make([]string, len(infos))
	for i := range infos {
		byName[infos[i].Name] = &infos[i]
		names[i] = strconv.Quote(infos[i].Name)
	}
	for _, spec := range specs {
		info, ok := byName[spec.Name]
		if !ok {
			return fmt.Errorf("ort: new session: model has no %s %q (its %ss are %s)",
				side, spec.Name, side, strings.Join(names, ", "))
		}
		if info.OrtValueType != onnxruntime.ONNXTypeTensor {
			return fmt.Errorf("ort: new session: model %s %q is a %v, not a tensor", side, spec.Name, info.OrtValueType)
		}
		if want := elementType(spec.DType); info.DataType != want {
			return fmt.Errorf("ort: new session: model %s %q has element type %v, but %v was requested",
				side, spec.Name, info.DataType, spec.DType)
		}
		dims := info.Dimensions
		if len(dims) == 0 {
			continue // unknown rank (or a scalar): leave it to ORT
		}
		match := len(dims) == len(spec.Shape)
		for i := 0; match && i < len(dims); i++ {
			match = dims[i] < 0 || dims[i] == spec.Shape[i]
		}
		if !match {
			return fmt.Errorf("ort: new session: model %s %q has shape %v, but %v was requested",
				side, spec.Name, []int64(dims), spec.Shape)
		}
	}
	return nil
}

// elementType maps d to the ONNX element type.
func elementType(d DType) onnxruntime.TensorElementDataType {
	switch d {
	case Float32:
		return onnxruntime.TensorElementDataTypeFloat
	case Float64:
		return onnxruntime.TensorElementDataTypeDouble
	case Int64:
		return onnxruntime.TensorElementDataTypeInt64
	case Bool:
		return onnxruntime.TensorElementDataTypeBool
	case Float16:
		return onnxruntime.TensorElementDataTypeFloat16
	case Uint8:
		return onnxruntime.TensorElementDataTypeUint8
	}
	return onnxruntime.TensorElementDataTypeUndefined
}

// allocate creates the tensors described by specs and records them in s.
func (s *Session) allocate(specs []TensorSpec) ([]string, []onnxruntime.Value, error) {
	names := make([]string, 0, len(specs))
	values := make([]onnxruntime.Value, 0, len(specs))
	for _, spec := range specs {
		if spec.Name == "" {
			return nil, nil, errors.New("ort: new session: tensor with empty name")
		}
		if _, dup := s.tensors[spec.Name]; dup {
			return nil, nil, fmt.Errorf("ort: new session: duplicate tensor name %q", spec.Name)
		}
		if len(spec.Shape) == 0 {
			return nil, nil, fmt.Errorf("ort: new session: tensor %q: rank-0 (scalar) tensors are not supported; use shape [1]", spec.Name)
		}
		spec.Shape = append([]int64(nil), spec.Shape...)
		shape := onnxruntime.Shape(spec.Shape)
		t := &tensor{spec: spec}
		var err error
		switch spec.DType {
		case Float32:
			var v *onnxruntime.Tensor[float32]
			if v, err = onnxruntime.NewEmptyTensor[float32](shape); err == nil {
				t.value, t.f32 = v, v.GetData()
			}
		case Float64:
			var v *onnxruntime.Tensor[float64]
			if v, err = onnxruntime.NewEmptyTensor[float64](shape); err == nil {
				t.value, t.f64 = v, v.GetData()
			}
		case Int64:
			var v *onnxruntime.Tensor[int64]
			if v, err = onnxruntime.NewEmptyTensor[int64](shape); err == nil {
				t.value, t.i64 = v, v.GetData()
			}
		case Bool:
			var v *onnxruntime.Tensor[bool]
			if v, err = onnxruntime.NewEmptyTensor[bool](shape); err == nil {
				t.value, t.b = v, v.GetData()
			}
		case Uint8:
			var v *onnxruntime.Tensor[uint8]
			if v, err = onnxruntime.NewEmptyTensor[uint8](shape); err == nil {
				t.value, t.u8 = v, v.GetData()
			}
		case Float16:
			// ORT reads the Go-owned memory: a uint16 slice viewed as bytes keeps it aligned.
			t.f16 = make([]uint16, onnxruntime.Shape(spec.Shape).FlattenedSize())
			var bytes []byte
			if len(t.f16) > 0 {
				bytes = unsafe.Slice((*byte)(unsafe.Pointer(&t.f16[0])), 2*len(t.f16))
			}
			t.value, err = onnxruntime.NewCustomDataTensor(shape, bytes, onnxruntime.TensorElementDataTypeFloat16)
		default:
			return nil, nil, fmt.Errorf("ort: new session: tensor %q: unsupported dtype %v", spec.Name, spec.DType)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("ort: new session: tensor %q %v%v: %w", spec.Name, spec.DType, spec.Shape, err)
		}
		s.tensors[spec.Name] = t
		s.order = append(s.order, t)
		names = append(names, spec.Name)
		values = append(values, t.value)
	}
	return names, values, nil
}

// Run runs the model once: it reads the current contents of the input
// tensors and overwrites the output tensors.
func (s *Session) Run() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("ort: run: session is closed")
	}
	if err := s.sess.Run(); err != nil {
		return fmt.Errorf("ort: run: %w", err)
	}
	return nil
}

// Float32 returns the data of the float32 input or output tensor called
// name, in row-major order. The slice aliases the tensor's memory and stays
// valid until the session is closed. It panics if the session has no float32
// tensor of that name.
func (s *Session) Float32(name string) []float32 {
	return s.lookup(name, Float32).f32
}

// Float64 returns the data of the float64 input or output tensor called
// name; see Float32.
func (s *Session) Float64(name string) []float64 {
	return s.lookup(name, Float64).f64
}

// Int64 returns the data of the int64 input or output tensor called name;
// see Float32.
func (s *Session) Int64(name string) []int64 {
	return s.lookup(name, Int64).i64
}

// Bool returns the data of the bool input or output tensor called name; see Float32.
func (s *Session) Bool(name string) []bool {
	return s.lookup(name, Bool).b
}

// Uint8 returns the data of the uint8 input or output tensor called name; see Float32.
func (s *Session) Uint8(name string) []uint8 {
	return s.lookup(name, Uint8).u8
}

// Float16 returns the data of the float16 input or output tensor called name, as IEEE
// half-precision bit patterns; see Float32.
func (s *Session) Float16(name string) []uint16 {
	return s.lookup(name, Float16).f16
}

// Spec returns the specification of the input or output tensor called name,
// and whether there is one.
func (s *Session) Spec(name string) (TensorSpec, bool) {
	t, ok := s.tensors[name]
	if !ok {
		return TensorSpec{}, false
	}
	spec := t.spec
	spec.Shape = append([]int64(nil), spec.Shape...)
	return spec, true
}

func (s *Session) lookup(name string, d DType) *tensor {
	t, ok := s.tensors[name]
	if !ok || t.spec.DType != d {
		panic(fmt.Sprintf("ort: no tensor %q of type %v", name, d))
	}
	return t
}

// Close releases the ONNX Runtime session and its tensors; slices obtained
// from the accessors must not be used afterwards. Closing an already closed
// session does nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.destroy()
	s.mu.Unlock()

	s.rt.mu.Lock()
	delete(s.rt.sessions, s)
	s.rt.mu.Unlock()
	return err
}

// destroy releases the session and then the tensors it used.
func (s *Session) destroy() error {
	var errs []error
	if s.sess != nil {
		if err := s.sess.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("ort: close session: %w", err))
		}
		s.sess = nil
	}
	for _, t := range s.order {
		if err := t.value.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("ort: close tensor %q: %w", t.spec.Name, err))
		}
		t.value, t.f32, t.f64, t.i64 = nil, nil, nil, nil
	}
	s.order = nil
	return errors.Join(errs...)
}
