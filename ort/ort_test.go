package ort_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// reluAdd is the model built by testdata/make_relu_add.py: y = Relu(x) + x
// with x and y float32[2,3].
func reluAdd(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "relu_add.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	xSpec = []ort.TensorSpec{{Name: "x", DType: ort.Float32, Shape: []int64{2, 3}}}
	ySpec = []ort.TensorSpec{{Name: "y", DType: ort.Float32, Shape: []int64{2, 3}}}
)

func reluAddWant(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = max(v, 0) + v
	}
	return y
}

func newReluAdd(t *testing.T, rt *ort.Runtime) *ort.Session {
	t.Helper()
	s, err := rt.NewSession(reluAdd(t), xSpec, ySpec)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runReluAdd fills x, runs s and checks y.
func runReluAdd(t *testing.T, s *ort.Session, x []float32) {
	t.Helper()
	copy(s.Float32("x"), x)
	if err := s.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := s.Float32("y"), reluAddWant(x); !slices.Equal(got, want) {
		t.Errorf("y = %v, want %v", got, want)
	}
}

func TestSessionRunReusesTensors(t *testing.T) {
	rt := orttest.Runtime(t)
	if rt.Device() != "cpu" {
		t.Errorf("Device() = %q, want cpu", rt.Device())
	}
	if !filepath.IsAbs(rt.LibPath()) {
		t.Errorf("LibPath() = %q, want an absolute path", rt.LibPath())
	}
	t.Logf("onnxruntime %s from %s", rt.Version(), rt.LibPath())
	s := newReluAdd(t, rt)

	x0, y0 := s.Float32("x"), s.Float32("y")
	if len(x0) != 6 || len(y0) != 6 {
		t.Fatalf("len(x), len(y) = %d, %d, want 6, 6", len(x0), len(y0))
	}
	runReluAdd(t, s, []float32{-1, 0, 1, 2, -3, 4.5})
	runReluAdd(t, s, []float32{10, -20, 0.25, -0.5, 7, -8})

	// The accessors return the same backing memory every time.
	if x1, y1 := s.Float32("x"), s.Float32("y"); &x1[0] != &x0[0] || &y1[0] != &y0[0] {
		t.Error("accessors returned different backing arrays across runs")
	}
	if spec, ok := s.Spec("y"); !ok || spec.DType != ort.Float32 || !slices.Equal(spec.Shape, []int64{2, 3}) {
		t.Errorf("Spec(y) = %+v, %v", spec, ok)
	}
	if _, ok := s.Spec("nope"); ok {
		t.Error("Spec(nope) reported a tensor")
	}
}

func TestAccessorPanics(t *testing.T) {
	rt := orttest.Runtime(t)
	s := newReluAdd(t, rt)
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"wrong type", func() { s.Int64("x") }, `ort: no tensor "x" of type int64`},
		{"wrong type float64", func() { s.Float64("y") }, `ort: no tensor "y" of type float64`},
		{"unknown name", func() { s.Float32("z") }, `ort: no tensor "z" of type float32`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, _ := r.(string); msg != tc.want {
					t.Errorf("panic = %v, want %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	lib := orttest.LibPath(t)
	rt, err := ort.Open(ort.Options{LibPath: lib})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := rt.NewSession(reluAdd(t), xSpec, ySpec)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := rt.NewSession(reluAdd(t), xSpec, ySpec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("first Session.Close: %v", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("second Session.Close: %v", err)
	}
	if err := s1.Run(); err == nil || !strings.HasPrefix(err.Error(), "ort: run: ") {
		t.Errorf("Run after Close = %v, want an \"ort: run: \" error", err)
	}
	// Closing the runtime closes s2, which is still open.
	if err := rt.Close(); err != nil {
		t.Fatalf("first Runtime.Close: %v", err)
	}
	if err := rt.Close(); err != nil {
		t.Fatalf("second Runtime.Close: %v", err)
	}
	if err := s2.Run(); err == nil {
		t.Error("Run on a session of a closed runtime succeeded")
	}
	if err := s2.Close(); err != nil {
		t.Errorf("Close on a session of a closed runtime: %v", err)
	}
	if _, err := rt.NewSession(reluAdd(t), xSpec, ySpec); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("NewSession on closed runtime = %v, want a \"closed\" error", err)
	}
}

// TestReopen checks that the library can be unloaded and loaded again, and
// that several Runtimes share one environment.
func TestReopen(t *testing.T) {
	lib := orttest.LibPath(t)
	for i := range 3 {
		a, err := ort.Open(ort.Options{LibPath: lib, Threads: 1})
		if err != nil {
			t.Fatalf("cycle %d: Open a: %v", i, err)
		}
		b, err := ort.Open(ort.Options{LibPath: lib})
		if err != nil {
			t.Fatalf("cycle %d: Open b: %v", i, err)
		}
		sa, err := a.NewSession(reluAdd(t), xSpec, ySpec)
		if err != nil {
			t.Fatalf("cycle %d: NewSession: %v", i, err)
		}
		if err := b.Close(); err != nil { // a still holds the environment
			t.Fatalf("cycle %d: Close b: %v", i, err)
		}
		runReluAdd(t, sa, []float32{1, -2, 3, -4, 5, float32(-i)})
		if err := a.Close(); err != nil {
			t.Fatalf("cycle %d: Close a: %v", i, err)
		}
	}
}

func TestOpenDifferentLibraryWhileOpen(t *testing.T) {
	rt := orttest.Runtime(t)
	dir := t.TempDir()

	// A symbolic link to the same file is the same library.
	link := filepath.Join(dir, "link.so")
	if err := os.Symlink(rt.LibPath(), link); err != nil {
		t.Fatal(err)
	}
	rt2, err := ort.Open(ort.Options{LibPath: link})
	if err != nil {
		t.Fatalf("Open via symlink to the loaded library: %v", err)
	}
	rt2.Close()

	other := filepath.Join(dir, "other.so")
	if err := os.WriteFile(other, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rt3, err := ort.Open(ort.Options{LibPath: other}); err == nil {
		rt3.Close()
		t.Fatal("Open with a different library while one is loaded succeeded")
	} else if !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("error %q does not say a library is already loaded", err)
	}
}

func TestOpenBadLibrary(t *testing.T) {
	orttest.LibPath(t) // only meaningful where the real library loads
	bad := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(bad, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, err := ort.Open(ort.Options{LibPath: bad})
	if err == nil {
		rt.Close()
		t.Fatal("Open of a non-library succeeded")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "ort: load "+bad) {
		t.Errorf("error = %q", msg)
	}
	// The failure must leave nothing half-initialized.
	runReluAdd(t, newReluAdd(t, orttest.Runtime(t)), []float32{1, 2, 3, 4, 5, 6})
}

func TestOpenUnknownDevice(t *testing.T) {
	_, err := ort.Open(ort.Options{Device: "tpu"})
	if err == nil {
		t.Fatal("Open with device tpu succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "Options.Device") || !strings.Contains(msg, `"tpu"`) {
		t.Errorf("error %q does not name Options.Device and the value", msg)
	}
}

func TestCUDAUnavailable(t *testing.T) {
	lib := orttest.LibPath(t)
	rt, err := ort.Open(ort.Options{LibPath: lib, Device: "cuda"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if rt.Device() != "cuda" {
		t.Errorf("Device() = %q, want cuda", rt.Device())
	}
	s, err := rt.NewSession(reluAdd(t), xSpec, ySpec)
	if err == nil {
		// A CUDA-enabled library on a machine with a GPU.
		defer s.Close()
		runReluAdd(t, s, []float32{-1, 0, 1, 2, -3, 4.5})
		t.Skip("CUDA execution provider is available; nothing to check")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	want := "ort: CUDA execution provider unavailable in " + rt.LibPath() + " (this library is CPU-only or no GPU is present): "
	if !strings.HasPrefix(msg, want) {
		t.Errorf("error = %q, want prefix %q", msg, want)
	}
	t.Logf("%v", err)
}

func TestNewSessionErrors(t *testing.T) {
	rt := orttest.Runtime(t)
	model := reluAdd(t)
	f32 := func(name string, shape ...int64) ort.TensorSpec {
		return ort.TensorSpec{Name: name, DType: ort.Float32, Shape: shape}
	}
	for _, tc := range []struct {
		name    string
		model   []byte
		in, out []ort.TensorSpec
		want    string
	}{
		{"empty model", nil, xSpec, ySpec, "empty model"},
		{"garbage model", []byte("garbage"), xSpec, ySpec, "ort: new session"},
		{"no outputs", model, xSpec, nil, "at least one"},
		{"duplicate name", model, xSpec, []ort.TensorSpec{f32("x", 2, 3)}, `duplicate tensor name "x"`},
		{"scalar", model, []ort.TensorSpec{f32("x")}, ySpec, "rank-0"},
		{"negative dim", model, []ort.TensorSpec{f32("x", 2, -3)}, ySpec, `tensor "x"`},
		{"bad dtype", model, []ort.TensorSpec{{Name: "x", Shape: []int64{2, 3}}}, ySpec, "unsupported dtype"},
		{"unknown output", model, xSpec, []ort.TensorSpec{f32("nope", 2, 3)}, `model has no output "nope" (its outputs are "y")`},
		{"unknown input", model, []ort.TensorSpec{f32("nope", 2, 3)}, ySpec, `model has no input "nope" (its inputs are "x")`},
		{"wrong dtype", model, []ort.TensorSpec{{Name: "x", DType: ort.Float64, Shape: []int64{2, 3}}}, ySpec,
			`model input "x" has element type`},
		{"wrong shape", model, xSpec, []ort.TensorSpec{f32("y", 3, 2)}, `model output "y" has shape [2 3], but [3 2] was requested`},
		{"wrong rank", model, []ort.TensorSpec{f32("x", 6)}, ySpec, `model input "x" has shape [2 3], but [6] was requested`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := rt.NewSession(tc.model, tc.in, tc.out)
			if err == nil {
				s.Close()
				t.Fatal("NewSession succeeded")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "ort: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q, want it to contain %q", msg, tc.want)
			}
		})
	}
}

func TestProfiling(t *testing.T) {
	rt := orttest.Runtime(t)
	prefix := filepath.Join(t.TempDir(), "prof")
	s, err := rt.NewSessionWithOptions(reluAdd(t), xSpec, ySpec, ort.SessionConfig{ProfilePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	runReluAdd(t, s, []float32{1, 2, 3, -4, -5, -6})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(prefix + "*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no profile written with prefix %s", prefix)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "model_run") {
		t.Errorf("profile %s has no model_run event", files[0])
	}
}

func TestDTypeString(t *testing.T) {
	for d, want := range map[ort.DType]string{ort.Float32: "float32", ort.Float64: "float64", ort.Int64: "int64", ort.Float16: "float16", 0: "DType(0)"} {
		if got := d.String(); got != want {
			t.Errorf("DType(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}

// TestFloat16Tensors feeds float16 bit patterns (IEEE half precision: 1, −2, the smallest
// subnormal, 65504, +Inf, NaN) through a model that returns them as they are and cast to
// float32.
func TestFloat16Tensors(t *testing.T) {
	rt := orttest.Runtime(t)
	g := ir.NewGraph("half")
	x := &ir.Value{Name: "x", DType: ir.Float16, Shape: []int64{2, 3}}
	g.Inputs = []*ir.Value{x}
	g.Outputs = []*ir.Value{{Name: "same", DType: ir.Float16, Shape: x.Shape}, {Name: "wide", DType: ir.Float32, Shape: x.Shape}}
	g.AddNode(&ir.Node{Name: "id", OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"same"}})
	g.AddNode(&ir.Node{Name: "cast", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"wide"}, Attrs: []ir.Attr{ir.IntAttr("to", int64(ir.Float32))}})
	data, err := onnxio.Encode(&ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Version: 13}}, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSession(data, []ort.TensorSpec{{Name: "x", DType: ort.Float16, Shape: x.Shape}},
		[]ort.TensorSpec{{Name: "same", DType: ort.Float16, Shape: x.Shape}, {Name: "wide", DType: ort.Float32, Shape: x.Shape}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := []uint16{0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0x7E00}
	copy(s.Float16("x"), in)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if got := s.Float16("same"); !slices.Equal(got, in) {
		t.Errorf("float16 out %#04x, want %#04x", got, in)
	}
	want := []float32{1, -2, float32(math.Ldexp(1, -24)), 65504, float32(math.Inf(1))}
	got := s.Float32("wide")
	if !slices.Equal(got[:5], want) || !math.IsNaN(float64(got[5])) {
		t.Errorf("cast to float32: %v, want %v and NaN", got, want)
	}
}

// TestConcurrentSessions runs separate sessions from several goroutines, and
// creates sessions concurrently, as a parallel evaluator would.
func TestConcurrentSessions(t *testing.T) {
	rt := orttest.Runtime(t)
	model := reluAdd(t)
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			s, err := rt.NewSession(model, xSpec, ySpec)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for i := range 50 {
				x := []float32{float32(w), float32(-i), 1, -1, float32(i * w), -0.5}
				copy(s.Float32("x"), x)
				if err := s.Run(); err != nil {
					errs <- err
					return
				}
				if got, want := s.Float32("y"), reluAddWant(x); !slices.Equal(got, want) {
					errs <- fmt.Errorf("worker %d run %d: y = %v, want %v", w, i, got, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
