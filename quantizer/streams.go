package quantizer

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// stream is a set of values whose channels are tied together: the two inputs and the output
// of each Add between them, as MobileNet's residual stream of linear bottlenecks, or a lone
// Conv output. Scaling channel c of every value by the same positive factor keeps the model's
// function when every producer is a Conv (its output channel c divided) and every consumer
// is a Conv with group 1 (its input channel c multiplied) or one of the set's Adds.
type stream struct {
	Values    []string   // in graph order
	Producers []*ir.Node // Convs writing a value of the set
	Consumers []*ir.Node // Convs (group 1) reading a value of the set
	Channels  int
}

// findStreams returns g's streams that can be rescaled: those that end in Convs only. A value
// read by anything else (ReLU after a ResNet's Add, pooling, a graph output, a depthwise Conv)
// rules its stream out. g must be BN-folded.
func findStreams(g *ir.Graph) []stream {
	producers, consumers := g.Producers(), g.Consumers()
	isConv := func(n *ir.Node) bool {
		if n == nil || n.OpType != "Conv" || n.Domain != "" {
			return false
		}
		w := g.Initializer(n.Input(1))
		return w != nil && w.DType == ir.Float32 && len(w.Shape) >= 3 &&
			(n.Input(2) == "" || g.Initializer(n.Input(2)) != nil)
	}
	// Union-find over the values an Add ties together.
	parent := map[string]string{}
	var root func(string) string
	root = func(v string) string {
		p, ok := parent[v]
		if !ok {
			parent[v] = v
			return v
		}
		if p == v {
			return v
		}
		r := root(p)
		parent[v] = r
		return r
	}
	order := map[string]int{}
	for i, n := range g.Nodes {
		for _, out := range n.Outputs {
			order[out] = i
		}
		switch {
		case isConv(n):
			root(n.Outputs[0])
		case n.OpType == "Add" && len(n.Inputs) == 2 && g.Initializer(n.Inputs[0]) == nil && g.Initializer(n.Inputs[1]) == nil:
			for _, in := range n.Inputs {
				parent[root(in)] = root(n.Outputs[0])
			}
		}
	}
	sets := map[string][]string{}
	for v := range parent {
		sets[root(v)] = append(sets[root(v)], v)
	}
	var out []stream
	for _, values := range sets {
		slices.SortFunc(values, func(a, b string) int { return order[a] - order[b] })
		if s, ok := newStream(g, values, producers, consumers, isConv); ok {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b stream) int { return order[a.Values[0]] - order[b.Values[0]] })
	return out
}

func newStream(g *ir.Graph, values []string, producers map[string]*ir.Node, consumers map[string][]*ir.Node, isConv func(*ir.Node) bool) (stream, bool) {
	s := stream{Values: values}
	in := map[string]bool{}
	for _, v := range values {
		in[v] = true
	}
	for _, v := range values {
		if g.IsOutput(v) {
			return s, false
		}
		switch p := producers[v]; {
		case p == nil:
			return s, false // a graph input
		case p.OpType == "Add":
		case isConv(p):
			s.Producers = append(s.Producers, p)
		default:
			return s, false
		}
		for _, c := range consumers[v] {
			switch {
			case c.OpType == "Add" && in[c.Outputs[0]]:
			case isConv(c) && c.AttrInt("group", 1) == 1 && c.Input(0) == v:
				if !slices.Contains(s.Consumers, c) {
					s.Consumers = append(s.Consumers, c)
				}
			default:
				return s, false
			}
		}
	}
	if len(s.Producers) == 0 || len(s.Consumers) == 0 {
		return s, false
	}
	s.Channels = int(g.Initializer(s.Producers[0].Input(1)).Shape[0])
	for _, p := range s.Producers {
		if int(g.Initializer(p.Input(1)).Shape[0]) != s.Channels {
			return s, false
		}
	}
	for _, c := range s.Consumers {
		if int(g.Initializer(c.Input(1)).Shape[1]) != s.Channels {
			return s, false
		}
	}
	return s, true
}

// equalizeStreams rescales the channels of every stream (findStreams) so that each channel's
// activation range and its consumers' weight range meet halfway: channel c is divided by
// s_c = sqrt(a_c/w_c), a_c its largest magnitude in any of the stream's values over the
// images (NCHW, n of them, preprocessed), w_c the largest magnitude of input channel c in the
// consuming layers' weights (SmoothQuant's balance, α = 1/2). A stream's channels differ in
// range by an order of magnitude, and one per-tensor activation step serves them all; the
// producers' rescaled output channels cost nothing under per-channel weight quantizers.
// fm must be BN-folded with inferred shapes; the function is unchanged. It returns the
// number of streams rescaled.
func equalizeStreams(ctx context.Context, rt *ort.Runtime, fm *ir.Model, images []float32, n int) (int, error) {
	streams := findStreams(fm.Graph)
	if len(streams) == 0 || n == 0 {
		return 0, nil
	}
	ranges, err := channelRanges(ctx, rt, fm, streams, images, n)
	if err != nil {
		return 0, err
	}
	g := fm.Graph
	for _, s := range streams {
		a := make([]float64, s.Channels)
		for _, v := range s.Values {
			for c, r := range ranges[v] {
				a[c] = math.Max(a[c], r)
			}
		}
		w := make([]float64, s.Channels)
		for _, cn := range s.Consumers {
			wt := g.Initializer(cn.Input(1))
			forEachColumn(wt.F32, int(wt.Shape[0]), s.Channels, func(c int, x []float32) {
				for _, f := range x {
					w[c] = math.Max(w[c], math.Abs(float64(f)))
				}
			})
		}
		scale := make([]float64, s.Channels)
		for c := range scale {
			scale[c] = 1
			if a[c] > 0 && w[c] > 0 {
				scale[c] = math.Sqrt(a[c] / w[c])
			}
		}
		for _, p := range s.Producers {
			wt := g.Initializer(p.Input(1))
			nw := append([]float32{}, wt.F32...)
			per := len(nw) / s.Channels
			for c, sc := range scale {
				for i := range per {
					nw[c*per+i] = float32(float64(nw[c*per+i]) / sc)
				}
			}
			p.Inputs[1] = addTensor(g, wt.Name+"_streq", wt.Shape, nw)
			if p.Input(2) != "" {
				bt := g.Initializer(p.Input(2))
				nb := append([]float32{}, bt.F32...)
				for c, sc := range scale {
					nb[c] = float32(float64(nb[c]) / sc)
				}
				p.Inputs[2] = addTensor(g, bt.Name+"_streq", bt.Shape, nb)
			}
		}
		for _, cn := range s.Consumers {
			wt := g.Initializer(cn.Input(1))
			nw := append([]float32{}, wt.F32...)
			forEachColumn(nw, int(wt.Shape[0]), s.Channels, func(c int, x []float32) {
				for i := range x {
					x[i] = float32(float64(x[i]) * scale[c])
				}
			})
			cn.Inputs[1] = addTensor(g, wt.Name+"_streq", wt.Shape, nw)
		}
	}
	ir.PruneDead(g)
	return len(streams), nil
}

// forEachColumn calls f with each [o, c, …] slice of Conv weights w ([cout, channels, …]):
// input channel c's kernel for one output channel.
func forEachColumn(w []float32, cout, channels int, f func(c int, x []float32)) {
	k := len(w) / cout / channels
	for o := range cout {
		for c := range channels {
			i := (o*channels + c) * k
			f(c, w[i:i+k])
		}
	}
}

// channelRanges runs the images through fm and returns, for each value of the streams, the
// largest magnitude of each channel.
func channelRanges(ctx context.Context, rt *ort.Runtime, fm *ir.Model, streams []stream, images []float32, n int) (map[string][]float64, error) {
	channels := map[string]int{}
	var names []string
	for _, s := range streams {
		for _, v := range s.Values {
			channels[v] = s.Channels
			names = append(names, v)
		}
	}
	batch := min(64, n)
	sess, err := infer.NewWithOutputs(rt, fm, batch, names)
	if err != nil {
		return nil, fmt.Errorf("quantizer: stream equalization: %w", err)
	}
	defer sess.Close()
	ranges := map[string][]float64{}
	for _, v := range names {
		ranges[v] = make([]float64, channels[v])
	}
	per := len(images) / n
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := min(batch, n-start)
		in := sess.Input()
		copy(in, images[start*per:(start+k)*per])
		clear(in[k*per:])
		if err := sess.Run(); err != nil {
			return nil, fmt.Errorf("quantizer: stream equalization: %w", err)
		}
		for _, v := range names {
			x, r := sess.OutputOf(v), ranges[v]
			c := len(r)
			sp := len(x) / batch / c
			for i := range k * c {
				ch := i % c
				for _, f := range x[i*sp : (i+1)*sp] {
					r[ch] = math.Max(r[ch], math.Abs(float64(f)))
				}
			}
		}
	}
	return ranges, nil
}
