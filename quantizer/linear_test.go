package quantizer

import (
	"math"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/testmodels"
)

// canonicalLinear rewrites every fully-connected form into Gemm with transB=1, with a MatMul's
// bias Add taken in, without changing what the model computes: the same logits in ONNX
// Runtime before and after, to float rounding.
func TestCanonicalLinearKeepsFunction(t *testing.T) {
	rt := orttest.Runtime(t)
	tests := []struct {
		name    string
		model   *ir.Model
		changed int
		adds    int // Add nodes left: the residual sums, not the biases
	}{
		{"MatMul on 4-D channels-last maps", testmodels.WithPointwiseMLP(testmodels.TinyResNet(4)), 2, 2},
		{"MatMul on 2-D input", testmodels.WithLinearAs(testmodels.TinyResNet(4), "matmul"), 1, 1},
		{"Gemm with transB=0 and alpha=2", testmodels.WithLinearAs(testmodels.TinyResNet(4), "gemm"), 1, 1},
		{"PyTorch's Gemm", testmodels.TinyResNet(4), 0, 1},
	}
	const n = 8
	x := make([]float32, n*64)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.71) * 1.3)
	}
	cfg := infer.Config{Batch: n}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ir.Canonicalize(tt.model); err != nil {
				t.Fatal(err)
			}
			if err := ir.InferBatchShapes(tt.model); err != nil {
				t.Fatal(err)
			}
			want, err := outputsOf(rt, tt.model, cfg, x, n)
			if err != nil {
				t.Fatal(err)
			}
			changed, err := canonicalLinear(tt.model.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.changed {
				t.Errorf("%d layers rewritten, want %d", changed, tt.changed)
			}
			adds := 0
			for _, nd := range tt.model.Graph.Nodes {
				if nd.OpType == "MatMul" || (nd.OpType == "Gemm" && nd.AttrInt("transB", 0) != 1) {
					t.Errorf("node %s left as %s", nd.Name, nd.OpType)
				}
				if nd.OpType == "Add" {
					adds++
				}
			}
			if adds != tt.adds {
				t.Errorf("%d Add nodes left, want %d (the biases taken into their Gemms)", adds, tt.adds)
			}
			if err := ir.InferBatchShapes(tt.model); err != nil {
				t.Fatal(err)
			}
			got, err := outputsOf(rt, tt.model, cfg, x, n)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("logit %d: %g after the rewrite, %g before", i, got[i], want[i])
				}
			}
		})
	}
}

// A MatMul layer whose input has a dynamic dimension besides the batch cannot be reshaped
// into rows: refused, naming the node.
func TestCanonicalLinearRefusesDynamicInput(t *testing.T) {
	m := testmodels.WithPointwiseMLP(testmodels.TinyResNet(4))
	if err := ir.Canonicalize(m); err != nil {
		t.Fatal(err)
	}
	if err := ir.InferBatchShapes(m); err != nil {
		t.Fatal(err)
	}
	m.Graph.ValueInfo["mlp.x"].Shape[1] = -1
	_, err := canonicalLinear(m.Graph)
	if err == nil || !strings.Contains(err.Error(), `node "mlp.fc1.matmul"`) || !strings.Contains(err.Error(), "all static but the first") {
		t.Fatalf("error %v, want one naming mlp.fc1.matmul and static dimensions", err)
	}
}
