package quantizer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// collectActs runs the float model fm over images (NCHW, n images) and gathers, for every
// quantized activation of p, what its step search needs: the range of its values over all
// the images and a fixed random sample of them. Memory stays at maxSearchSamples values per
// activation whatever the images' number and size (holding every value took gigabytes at
// 224×224).
func collectActs(ctx context.Context, rt *ort.Runtime, fm *ir.Model, p *Plan, images []float32, n, batch int) (map[string]*actStats, error) {
	var names []string
	out := map[string]*actStats{}
	for _, a := range p.Acts {
		if fm.Graph.Input(a.Value) != nil {
			// The model input (--quantize-input) is the images themselves.
			x := images[:len(images)/n*n]
			st := newActStats(len(x))
			st.add(x)
			out[a.Value] = st
			continue
		}
		names = append(names, a.Value)
	}
	batch = min(batchWithin(fm.Graph, names, batch), n)
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
			perImage := len(v) / batch
			if out[name] == nil {
				out[name] = newActStats(n * perImage)
			}
			out[name].add(v[:perImage*k])
		}
	}
	return out, nil
}

// actStats is what the activation step search needs of one value, gathered piece by piece:
// the smallest and largest element, and the elements at maxSearchSamples positions drawn at
// random (a regular stride aliases with the image layout; the search needs the distribution,
// not every element). The positions depend on the total count alone, so the sample is the
// same however the elements arrive.
type actStats struct {
	lo, hi float64
	total  int       // elements the value has over all images
	seen   int       // elements added so far
	sample []float32 // sample[i] is element pos[i]; every element, in order, when total ≤ maxSearchSamples
	pos    []int     // nil when every element is kept
	order  []int     // indices of pos in increasing position
	next   int       // the first entry of order not filled yet
}

func newActStats(total int) *actStats {
	st := &actStats{lo: math.Inf(1), hi: math.Inf(-1), total: total}
	if total <= maxSearchSamples {
		st.sample = make([]float32, 0, total)
		return st
	}
	r := rand.New(rand.NewPCG(uint64(total), 0x5eed))
	st.pos = make([]int, maxSearchSamples)
	st.order = make([]int, maxSearchSamples)
	for i := range st.pos {
		st.pos[i] = r.IntN(total)
		st.order[i] = i
	}
	slices.SortFunc(st.order, func(a, b int) int { return st.pos[a] - st.pos[b] })
	st.sample = make([]float32, maxSearchSamples)
	return st
}

// add takes the next elements of the value.
func (st *actStats) add(x []float32) {
	for _, v := range x {
		st.lo, st.hi = math.Min(st.lo, float64(v)), math.Max(st.hi, float64(v))
	}
	if st.pos == nil {
		st.sample = append(st.sample, x...)
	} else {
		end := st.seen + len(x)
		for ; st.next < len(st.order) && st.pos[st.order[st.next]] < end; st.next++ {
			i := st.order[st.next]
			st.sample[i] = x[st.pos[i]-st.seen]
		}
	}
	st.seen += len(x)
}

// complete reports whether every element has been added.
func (st *actStats) complete() bool { return st.seen > 0 && st.seen == st.total }

// sessionBudget bounds the bytes of the values one inference session hands back per batch
// (its outputs, extra outputs included): a batch of ImageNet-size activations would otherwise
// hold gigabytes. Models at 32×32 stay at the callers' batch sizes.
const sessionBudget = 256 << 20

// batchWithin returns the largest batch, at most most, whose values named by names (shapes
// from g, batch dimension first) take at most sessionBudget bytes; at least 1.
func batchWithin(g *ir.Graph, names []string, most int) int {
	var per int64
	for _, name := range names {
		per += valueBytes(g, name)
	}
	if per == 0 {
		return most
	}
	return int(max(1, min(int64(most), sessionBudget/per)))
}
