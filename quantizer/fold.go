package quantizer

import (
	"fmt"
	"math"

	"github.com/sharpq/sharpq/ir"
)

// FoldBN folds every BatchNormalization that directly follows a Conv or a fully-connected layer
// in PyTorch's form (Gemm with transB=1, see canonicalLinear; BatchNorm1d after Linear), and is
// its only consumer, into that layer's weight and bias, the form a model is deployed in:
//
//	W' = W · γ/√(σ²+ε) (per output channel),  b' = (b − μ) · γ/√(σ²+ε) + β
//
// It returns how many were folded. A BatchNormalization that does not follow such a layer
// stays in the graph: ONNX Runtime runs it in float between the quantized layers.
func FoldBN(m *ir.Model) (int, error) {
	g := m.Graph
	producers := g.Producers()
	consumers := g.Consumers()
	folded := 0
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if n.OpType != "BatchNormalization" {
			kept = append(kept, n)
			continue
		}
		if len(n.Outputs) > 1 && n.Outputs[1] != "" {
			return folded, fmt.Errorf("quantizer: node %s is in training mode", n)
		}
		conv := foldTarget(g, producers, consumers, n)
		if conv == nil {
			// Pre-activation BN (DenseNet, ResNet v2: BN → ReLU → Conv) or BN on the input: no
			// layer to fold it into, so it stays, a float per-channel affine map.
			kept = append(kept, n)
			continue
		}
		w := g.Initializer(conv.Input(1))
		params := make([][]float32, 4)
		for i := range params {
			t := g.Initializer(n.Input(i + 1))
			if t == nil || t.DType != ir.Float32 {
				return folded, fmt.Errorf("quantizer: node %s input %d (%q) is not a float32 constant", n, i+1, n.Input(i+1))
			}
			params[i] = t.F32
		}
		if w == nil || w.DType != ir.Float32 {
			return folded, fmt.Errorf("quantizer: node %s weight %q is not a float32 constant", conv, conv.Input(1))
		}
		gamma, beta, mean, variance := params[0], params[1], params[2], params[3]
		eps := float64(n.AttrFloat("epsilon", 1e-5))
		cout := int(w.Shape[0])
		if len(gamma) != cout {
			return folded, fmt.Errorf("quantizer: node %s has %d channels, conv %s has %d", n, len(gamma), conv, cout)
		}
		per := len(w.F32) / cout
		// New tensors: the weight may be shared with another node.
		nw := w.Clone()
		nw.Name = g.UniqueName(w.Name + "_folded")
		bias := make([]float32, cout)
		if b := g.Initializer(conv.Input(2)); b != nil {
			if len(b.F32) != cout {
				return folded, fmt.Errorf("quantizer: node %s: bias %q has %d values for %d channels", conv, b.Name, len(b.F32), cout)
			}
			copy(bias, b.F32)
		}
		for c := 0; c < cout; c++ {
			k := float64(gamma[c]) / math.Sqrt(float64(variance[c])+eps)
			for i := c * per; i < (c+1)*per; i++ {
				nw.F32[i] = float32(float64(w.F32[i]) * k)
			}
			bias[c] = float32((float64(bias[c])-float64(mean[c]))*k + float64(beta[c]))
		}
		g.AddInitializer(nw)
		bt := ir.NewFloat32(g.UniqueName(nw.Name+"_bias"), []int64{int64(cout)}, bias)
		g.AddInitializer(bt)
		conv.Inputs = []string{conv.Inputs[0], nw.Name, bt.Name}
		// The conv now produces the BN's output value.
		delete(g.ValueInfo, conv.Outputs[0])
		conv.Outputs[0] = n.Outputs[0]
		folded++
	}
	g.Nodes = kept
	ir.PruneDead(g)
	return folded, nil
}

// foldTarget returns the layer BatchNormalization node n folds into: a Conv or plain
// fully-connected layer whose output only n reads; nil when there is none.
func foldTarget(g *ir.Graph, producers map[string]*ir.Node, consumers map[string][]*ir.Node, n *ir.Node) *ir.Node {
	conv := producers[n.Input(0)]
	if conv == nil || (conv.OpType != "Conv" && !isPlainLinear(g, conv)) || len(consumers[conv.Outputs[0]]) != 1 || g.IsOutput(conv.Outputs[0]) {
		return nil
	}
	return conv
}

// UnfoldableBN counts the BatchNormalization nodes of g that follow no layer FoldBN could fold
// them into (pre-activation BN, BN on the input): they stay float in the quantized model.
func UnfoldableBN(g *ir.Graph) int {
	producers, consumers := g.Producers(), g.Consumers()
	n := 0
	for _, nd := range g.Nodes {
		if nd.OpType == "BatchNormalization" && foldTarget(g, producers, consumers, nd) == nil {
			n++
		}
	}
	return n
}

// isPlainLinear reports whether n is Gemm(x, W[, B]) with transB=1, no transA, alpha = beta = 1
// and a constant float32 weight: a fully-connected layer whose output channels are W's rows.
func isPlainLinear(g *ir.Graph, n *ir.Node) bool {
	if n.OpType != "Gemm" || n.Domain != "" || n.AttrInt("transB", 0) != 1 || n.AttrInt("transA", 0) != 0 ||
		n.AttrFloat("alpha", 1) != 1 || n.AttrFloat("beta", 1) != 1 {
		return false
	}
	w := g.Initializer(n.Input(1))
	return w != nil && w.DType == ir.Float32 && len(w.Shape) == 2
}
