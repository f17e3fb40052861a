package generator

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/internal/train"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

// sharedDir holds the project's shared models and PyTorch reference values.
const sharedDir = "../../shared"

// refTol bounds the relative error of the BNS loss and its input gradient against PyTorch
// (the bound internal/autodiff's reference tests use; float32 sums in another order differ by
// about 1e-6 here).
const refTol = 1e-3

// TestBNSReference compares the BNS loss (no image prior) and its gradient with respect to
// the input with PyTorch's values in shared/reference (batch of 8, made by
// shared/models/make_reference.py).
func TestBNSReference(t *testing.T) {
	for _, arch := range []string{"resnet20", "mobilenetv2", "resnet18w16"} {
		t.Run(arch, func(t *testing.T) {
			m, man, dir := reftest.Case(t, sharedDir, arch)
			raw, err := os.ReadFile(filepath.Join(dir, man.BNS))
			if err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Loss float64 `json:"bns_loss"`
			}
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			taps, err := bnTaps(m, arch)
			if err != nil {
				t.Fatal(err)
			}
			input := m.Graph.Inputs[0].Name
			m.Graph.Outputs = nil
			b := autodiff.NewBuilder(m)
			loss := addBNSLoss(b, taps)
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			x := &train.Param{Name: input, Group: &train.Group{}, Init: reftest.ReadNPY(t, filepath.Join(dir, man.Input))}
			tr, err := train.New(orttest.Runtime(t), m, train.Config{Loss: loss, Params: []*train.Param{x}})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			got, err := tr.Forward()
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-ref.Loss) > refTol*ref.Loss {
				t.Errorf("BNS loss %.6g, PyTorch %.6g", got, ref.Loss)
			}
			e := reftest.RelErr(x.Grad, reftest.ReadNPY(t, filepath.Join(dir, man.GradBNS)))
			if e > refTol {
				t.Errorf("d BNS/d input: relative error %.3g", e)
			}
			t.Logf("%d BN layers; BNS loss %.6g (PyTorch %.6g); d BNS/d input relative error %.3g", len(taps), got, ref.Loss, e)
		})
	}
}

// TestImagePrior checks the image prior against a direct float64 computation.
func TestImagePrior(t *testing.T) {
	const n, c, h, w = 3, 2, 4, 5
	m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Version: 13}}, Graph: ir.NewGraph("prior")}
	shape := []int64{n, c, h, w}
	m.Graph.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: shape}}
	m.Graph.ValueInfo["x"] = &ir.Value{Name: "x", DType: ir.Float32, Shape: shape}
	b := autodiff.NewBuilder(m)
	prior := addImagePrior(b, "x")
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	data := make([]float32, n*c*h*w)
	for i := range data {
		data[i] = float32(math.Sin(float64(i)*0.7)*1.5 + 0.1*float64(i%7))
	}
	x := &train.Param{Name: "x", Group: &train.Group{}, Init: append([]float32{}, data...)}
	tr, err := train.New(orttest.Runtime(t), m, train.Config{Loss: prior, Params: []*train.Param{x}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	got, err := tr.Forward()
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for i := 0; i < n*c; i++ {
		img := data[i*h*w : (i+1)*h*w]
		var s float64
		for _, v := range img {
			s += float64(v)
		}
		mean := s / (h * w)
		var ss float64
		for _, v := range img {
			ss += (float64(v) - mean) * (float64(v) - mean)
		}
		std := math.Sqrt(ss / (h*w - 1)) // unbiased, as torch.std
		want += mean*mean + (std-1)*(std-1)
	}
	want /= n * c
	// float32 arithmetic over 20-element sums: relative error ~1e-6.
	if math.Abs(got-want) > 1e-5*want {
		t.Errorf("image prior %.7g, want %.7g", got, want)
	}
}

// noBN returns TinyResNet with its BatchNormalization nodes turned into Identity: the form a
// model takes when BN is folded away.
func noBN() *ir.Model {
	m := testmodels.TinyResNet(1)
	for _, n := range m.Graph.Nodes {
		if n.OpType == "BatchNormalization" {
			n.OpType, n.Inputs, n.Attrs = "Identity", n.Inputs[:1], nil
		}
	}
	ir.PruneDead(m.Graph)
	return m
}

// TestNoBNStats checks the error for models without BN statistics: a built one, and the
// shared folded export when it is present.
func TestNoBNStats(t *testing.T) {
	models := map[string]*ir.Model{"tiny": noBN()}
	path := filepath.Join(sharedDir, "models", "resnet20_fmnist_folded.onnx")
	if m, err := onnxio.Read(path); err == nil {
		models[path] = m
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for name, m := range models {
		opts := Fast()
		opts.ModelName = name
		_, err := Synthesize(t.Context(), nil, m, opts)
		if !errors.Is(err, ErrNoBNStats) {
			t.Fatalf("%s: error %v, want ErrNoBNStats", name, err)
		}
		want := "generator: " + name + " has no BatchNormalization statistics (BN folded into Conv at export, or an architecture without BN); if it has BN, re-export from PyTorch with training=TrainingMode.PRESERVE, do_constant_folding=False"
		if err.Error() != want {
			t.Errorf("error\n%s\nwant\n%s", err, want)
		}
		if !strings.Contains(ErrNoBNStats.Error(), "do_constant_folding=False") {
			t.Errorf("ErrNoBNStats %q lacks the re-export hint", ErrNoBNStats)
		}
	}
}
