package quantizer

import (
	"context"
	"fmt"
	"math"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// LayerReport describes one quantized layer.
type LayerReport struct {
	Node       string  `json:"node"`           // the layer's node name
	Bits       int     `json:"bits"`           // weight bits
	InputBits  int     `json:"input_bits"`     // 0 when the input stays float
	WeightSQNR float64 `json:"weight_sqnr_db"` // dequantized weight against the float weight, in dB, capped at 200
	// InputSQNR is the input quantizer's own noise on float activations (0 when the input
	// stays float); OutputSQNR compares the layer's output in the quantized model with the
	// float model's, so it includes the error of every layer before it.
	InputSQNR  float64 `json:"input_sqnr_db,omitempty"`
	OutputSQNR float64 `json:"output_sqnr_db"` // in dB, capped at 200
}

// sqnr returns the signal-to-quantization-noise ratio 10·log10(Σx² / Σ(x−q)²) in dB
// (+Inf when q equals x).
func sqnr(x, q []float32) float64 {
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

// layerReports reports every weight quantizer of p on the BN-folded graph g.
func layerReports(g *ir.Graph, p *Plan) []LayerReport {
	var out []LayerReport
	for _, q := range p.Weights {
		w := g.Initializer(q.Weight)
		if w == nil {
			continue
		}
		r := LayerReport{Node: q.Node, Bits: q.Bits, WeightSQNR: maxDB(sqnr(w.F32, q.Dequantized(w.F32)))}
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

// maxDB caps SQNRs for reports (JSON has no +Inf; a noiseless quantizer reads as 200 dB).
func maxDB(v float64) float64 { return math.Min(v, 200) }

// measureActs fills the activation SQNRs of layers (from layerReports(fm.Graph, p)) on n images
// (NCHW, preprocessed): InputSQNR, the noise of each layer's input quantizer alone on float
// activations, and OutputSQNR, the layer's output in the quantized simulation sim against the
// float model fm, which is the error accumulated up to that layer.
func measureActs(ctx context.Context, rt *ort.Runtime, fm, sim *ir.Model, p *Plan, layers []LayerReport, images []float32, n int) error {
	outputOf := map[string]string{}
	for _, node := range fm.Graph.Nodes {
		outputOf[node.Name] = node.Outputs[0]
	}
	inputOf := map[string]*ActQuant{}
	for _, node := range fm.Graph.Nodes {
		if a := p.Act(node.Input(0)); a != nil {
			inputOf[node.Name] = a
		}
	}
	var outs, fpOuts []string
	seen := map[string]bool{}
	for _, l := range layers {
		o := outputOf[l.Node]
		outs = append(outs, o)
		fpOuts = append(fpOuts, o)
		if a := inputOf[l.Node]; a != nil && !seen[a.Value] && fm.Graph.Input(a.Value) == nil {
			seen[a.Value] = true
			fpOuts = append(fpOuts, a.Value)
		}
	}
	batch := min(batchWithin(fm.Graph, append(append([]string{}, outs...), fpOuts...), 32), n)
	fs, err := infer.NewWithOutputs(rt, fm, batch, fpOuts)
	if err != nil {
		return fmt.Errorf("quantizer: activation SQNR: %w", err)
	}
	defer fs.Close()
	qs, err := infer.NewWithOutputs(rt, sim, batch, outs)
	if err != nil {
		return fmt.Errorf("quantizer: activation SQNR: %w", err)
	}
	defer qs.Close()
	type acc struct{ sig, noise float64 }
	in, out := make([]acc, len(layers)), make([]acc, len(layers))
	per := len(images) / n
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(batch, n-start)
		copy(fs.Input(), images[start*per:(start+k)*per])
		clear(fs.Input()[k*per:])
		copy(qs.Input(), fs.Input())
		if err := fs.Run(); err != nil {
			return fmt.Errorf("quantizer: activation SQNR: %w", err)
		}
		if err := qs.Run(); err != nil {
			return fmt.Errorf("quantizer: activation SQNR: %w", err)
		}
		for i, l := range layers {
			o := outputOf[l.Node]
			x, q := fs.OutputOf(o), qs.OutputOf(o)
			m := len(x) / batch * k // padded images do not count
			for j, v := range x[:m] {
				d := float64(v - q[j])
				out[i].sig += float64(v) * float64(v)
				out[i].noise += d * d
			}
			a := inputOf[l.Node]
			if a == nil {
				continue
			}
			x = fs.Input()
			if fm.Graph.Input(a.Value) == nil {
				x = fs.OutputOf(a.Value)
			}
			for _, v := range x[:len(x)/batch*k] {
				d := float64(v) - a.Quantize(float64(v))
				in[i].sig += float64(v) * float64(v)
				in[i].noise += d * d
			}
		}
	}
	db := func(a acc) float64 {
		if a.noise == 0 {
			return 200
		}
		return maxDB(10 * math.Log10(a.sig/a.noise))
	}
	for i := range layers {
		layers[i].OutputSQNR = db(out[i])
		if inputOf[layers[i].Node] != nil {
			layers[i].InputSQNR = db(in[i])
		}
	}
	return nil
}
