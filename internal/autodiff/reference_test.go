package autodiff

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/ir"
)

// sharedDir holds the project's shared models and PyTorch reference values.
const sharedDir = "../../../shared"

// refTol bounds ‖ours − PyTorch‖/‖PyTorch‖ for every reference gradient (the bound;
// float32 kernels that sum in another order differ by about 1e-6 here).
const refTol = 1e-3

// TestReferenceGradients differentiates 0.5·Σlogits²/N (BatchNormalization with running
// statistics) with respect to the input and every conv/fc weight of the shared models, and
// compares with PyTorch's gradients (shared/reference, made by shared/models/make_reference.py).
func TestReferenceGradients(t *testing.T) {
	for _, arch := range []string{"resnet20", "resnet18w16", "mobilenetv2"} {
		t.Run(arch, func(t *testing.T) {
			m, man, dir := reftest.Case(t, sharedDir, arch)
			var params []string
			for p := range man.GradParams {
				params = append(params, p)
			}
			sort.Strings(params)
			weights, err := PromoteToInput(m, params...)
			if err != nil {
				t.Fatal(err)
			}
			input := m.Graph.Inputs[0].Name
			logits := m.Graph.Outputs[0].Name
			n := m.Graph.Inputs[0].Shape[0]
			b := NewBuilder(m)
			loss := b.Reshape(b.Scale(b.ReduceSumSquare(logits, nil, false), 0.5/float64(n)), []int64{1})
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			grads, err := Grad(m, loss, append([]string{input}, params...))
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string][]float32{input: reftest.ReadNPY(t, filepath.Join(dir, man.Input))}
			for _, w := range weights {
				feeds[w.Name] = w.F32
			}
			res := run(t, m, feeds, append([]string{logits, loss}, grads...))
			if e := reftest.RelErr(res[logits], reftest.ReadNPY(t, filepath.Join(dir, man.Logits))); e > refTol {
				t.Errorf("logits: relative error %.3g", e)
			}
			if got := float64(res[loss][0]); math.Abs(got-man.LossValue) > refTol*man.LossValue {
				t.Errorf("loss %.6g, PyTorch %.6g", got, man.LossValue)
			}
			worst, worstName := 0.0, ""
			for i, name := range append([]string{"input"}, params...) {
				file := man.GradInput
				if i > 0 {
					file = man.GradParams[name]
				}
				e := reftest.RelErr(res[grads[i]], reftest.ReadNPY(t, filepath.Join(dir, file)))
				if e > refTol {
					t.Errorf("d loss/d %s: relative error %.3g", name, e)
				}
				if i == 0 {
					t.Logf("d loss/d input: relative error %.3g", e)
				}
				if e > worst {
					worst, worstName = e, name
				}
			}
			t.Logf("%d gradients; worst relative error %.3g (%s)", len(grads), worst, worstName)
		})
	}
}

// TestReferenceBNSGradient differentiates the BN-statistics loss of DESIGN.md (no image
// prior, as in shared/reference/*/bns.json): over every BatchNormalization node l, with the
// per-channel batch mean and biased variance of its input,
// Σ_l (‖mean − running_mean‖² + ‖sqrt(var+eps) − sqrt(running_var+eps)‖²)/C_l, with respect
// to the input, and compares loss and gradient with PyTorch's.
func TestReferenceBNSGradient(t *testing.T) {
	for _, arch := range []string{"resnet20", "resnet18w16", "mobilenetv2"} {
		t.Run(arch, func(t *testing.T) {
			m, man, dir := reftest.Case(t, sharedDir, arch)
			raw, err := os.ReadFile(filepath.Join(dir, man.BNS))
			if err != nil {
				t.Fatal(err)
			}
			var bns struct {
				Loss float64 `json:"bns_loss"`
			}
			if err := json.Unmarshal(raw, &bns); err != nil {
				t.Fatal(err)
			}
			input := m.Graph.Inputs[0].Name
			b := NewBuilder(m)
			var terms []string
			for _, n := range append([]*ir.Node{}, m.Graph.Nodes...) {
				if n.OpType != "BatchNormalization" {
					continue
				}
				x := n.Inputs[0]
				cs := channelShape(b.Shape(x))
				eps := float64(n.AttrFloat("epsilon", 1e-5))
				mean, variance := Moments(b, x)
				dMean := b.ReduceSumSquare(b.Sub(mean, b.Reshape(n.Inputs[3], cs)), nil, false)
				std := b.Op("Sqrt", []string{b.Add(variance, b.Scalar(ir.Float32, eps))})
				runStd := b.Op("Sqrt", []string{b.Add(b.Reshape(n.Inputs[4], cs), b.Scalar(ir.Float32, eps))})
				dStd := b.ReduceSumSquare(b.Sub(std, runStd), nil, false)
				terms = append(terms, b.Scale(b.Add(dMean, dStd), 1/float64(cs[1])))
			}
			loss := b.Reshape(b.Sum(terms...), []int64{1})
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			grads, err := Grad(m, loss, []string{input})
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string][]float32{input: reftest.ReadNPY(t, filepath.Join(dir, man.Input))}
			res := run(t, m, feeds, []string{loss, grads[0]})
			if got := float64(res[loss][0]); math.Abs(got-bns.Loss) > refTol*bns.Loss {
				t.Errorf("BNS loss %.6g, PyTorch %.6g", got, bns.Loss)
			}
			e := reftest.RelErr(res[grads[0]], reftest.ReadNPY(t, filepath.Join(dir, man.GradBNS)))
			if e > refTol {
				t.Errorf("d BNS/d input: relative error %.3g", e)
			}
			t.Logf("%d BN layers; BNS loss %.6g (PyTorch %.6g); d BNS/d input relative error %.3g", len(terms), res[loss][0], bns.Loss, e)
		})
	}
}
