package quantizer

import (
	"math"

	"github.com/sharpq/sharpq/internal/ir"
)

// LayerReport describes one quantized layer.
type LayerReport struct {
	Node       string  `json:"node"`
	Bits       int     `json:"bits"`
	InputBits  int     `json:"input_bits"` // 0 when the input stays float
	WeightSQNR float64 `json:"weight_sqnr_db"`
}

// SQNR returns the signal-to-quantization-noise ratio 10·log10(Σx² / Σ(x−q)²) in dB
// (+Inf when q equals x).
func SQNR(x, q []float32) float64 {
	var sig, noise float64
	for i, v := range x {
		d := float64(v - q[i])
		sig += float64(v) * float64(v)
		noise += d * d
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// Layers reports every weight quantizer of p on the BN-folded graph g.
func Layers(g *ir.Graph, p *Plan) []LayerReport {
	var out []LayerReport
	for _, q := range p.Weights {
		w := g.Initializer(q.Weight)
		if w == nil {
			continue
		}
		r := LayerReport{Node: q.Node, Bits: q.Bits, WeightSQNR: SQNR(w.F32, q.Dequantized(w.F32))}
		for _, n := range g.Nodes {
			if n.Name == q.Node {
				if a := p.Act(n.Input(0)); a != nil {
					r.InputBits = a.Bits
				}
			}
		}
		out = append(out, r)
	}
	return out
}
