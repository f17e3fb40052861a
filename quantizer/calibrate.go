package quantizer

import (
	"context"
	"fmt"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// collectActs runs the float model fm over images (NCHW, n images) and returns every
// quantized activation of p, concatenated over the images.
func collectActs(ctx context.Context, rt *ort.Runtime, fm *ir.Model, p *Plan, images []float32, n, batch int) (map[string][]float32, error) {
	if batch > n {
		batch = n
	}
	var names []string
	out := map[string][]float32{}
	for _, a := range p.Acts {
		if fm.Graph.Input(a.Value) != nil {
			// The model input (--quantize-input) is the images themselves.
			out[a.Value] = images[:len(images)/n*n]
			continue
		}
		names = append(names, a.Value)
	}
	s, err := infer.NewWithOutputs(rt, fm, batch, names)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	per := len(images) / n
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := min(batch, n-start)
		in := s.Input()
		copy(in, images[start*per:(start+k)*per])
		clear(in[k*per:])
		if err := s.Run(); err != nil {
			return nil, fmt.Errorf("quantizer: collecting activations: %w", err)
		}
		for _, name := range names {
			v := s.OutputOf(name)
			out[name] = append(out[name], v[:len(v)/batch*k]...)
		}
	}
	return out, nil
}
