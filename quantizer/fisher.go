package quantizer

import (
	"fmt"
	"math"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/internal/ort"
	"github.com/sharpq/sharpq/internal/train"
)

// fisherWeights returns diagonal Fisher weights of block b's output for each of the n
// calibration images: (1 + g²/mean(g²))/2 with g = ∂KL/∂y, where KL compares the float
// model's class probabilities (fpLogits) with those the float rest of the network (the blocks
// in rest) computes from y, the block's output in the model quantized up to and including b.
// Half the loss stays plain squared error, half goes where the prediction is sensitive; the
// weights average 1, so the rounding regulariser keeps its relative weight. (BRECQ's
// (|g| + 1)² with g of a minibatch-mean KL is 1.000–1.002 on average here: plain squared
// error in effect.)
func fisherWeights(rt *ort.Runtime, fm *ir.Model, b Block, rest []Block, y, fpLogits []float32, n, batch int, sess ort.SessionConfig) ([]float32, error) {
	classes := len(fpLogits) / n
	per := len(y) / n
	w := make([]float32, len(y))
	if len(rest) == 0 {
		// The block computes the logits itself: ∂KL/∂z = (softmax(z) − p)/batch.
		if per != classes {
			return nil, fmt.Errorf("quantizer: block %s: output of %d values per image, the model has %d classes", b.Name, per, classes)
		}
		for i := 0; i < n; i++ {
			q, p := softmax(y[i*per:(i+1)*per]), softmax(fpLogits[i*classes:(i+1)*classes])
			for k := range q {
				w[i*per+k] = float32(q[k] - p[k])
			}
		}
		return normalizeFisher(w), nil
	}
	var nodes []*ir.Node
	for _, r := range rest {
		nodes = append(nodes, r.Nodes...)
	}
	out := fm.Graph.Outputs[0].Name
	sm, err := blockModel(fm, Block{Name: b.Name + "-suffix", Input: b.Output, Output: out, Nodes: nodes})
	if err != nil {
		return nil, err
	}
	if sm, err = cloneModel(sm); err != nil {
		return nil, err
	}
	bs := min(batch, n)
	if err := ir.FixBatch(sm, int64(bs)); err != nil {
		return nil, err
	}
	g := sm.Graph
	target := "fisher_target"
	tv := &ir.Value{Name: target, DType: ir.Float32, Shape: []int64{int64(bs), int64(classes)}}
	g.Inputs = append(g.Inputs, tv)
	g.ValueInfo[target] = tv
	bld := autodiff.NewBuilder(sm)
	bld.SetPrefix("fisher")
	ls := bld.Op("LogSoftmax", []string{out}, ir.IntAttr("axis", 1))
	// −Σ p·log q / batch: the minibatch-mean KL up to a constant that has no gradient.
	loss := bld.Scale(bld.ReduceSum(bld.Mul(target, ls), nil, false), -1/float64(batch))
	if bld.Err() != nil {
		return nil, bld.Err()
	}
	g.Outputs = []*ir.Value{{Name: loss, DType: ir.Float32, Shape: []int64{}}}
	yp := &train.Param{Name: b.Output, Group: &train.Group{Name: "fisher"}, Init: make([]float32, bs*per)}
	tr, err := train.New(rt, sm, train.Config{Loss: loss, Params: []*train.Param{yp}, Feeds: []string{target}, Session: sess})
	if err != nil {
		return nil, fmt.Errorf("quantizer: block %s: Fisher weights: %w", b.Name, err)
	}
	defer tr.Close()
	ft := tr.Feed(target)
	for i := 0; i < n; i += bs {
		k := min(bs, n-i)
		copy(yp.Data, y[i*per:(i+k)*per])
		clear(yp.Data[k*per:])
		for j := 0; j < bs; j++ {
			p := make([]float64, classes)
			if j < k {
				p = softmax(fpLogits[(i+j)*classes : (i+j+1)*classes])
			}
			for c, v := range p {
				ft[j*classes+c] = float32(v)
			}
		}
		if _, err := tr.Forward(); err != nil {
			return nil, fmt.Errorf("quantizer: block %s: Fisher weights: %w", b.Name, err)
		}
		for j, gv := range yp.Grad[:k*per] {
			w[i*per+j] = gv
		}
	}
	return normalizeFisher(w), nil
}

// normalizeFisher turns gradients g into the weights (1 + g²/mean(g²))/2, in place.
func normalizeFisher(g []float32) []float32 {
	var ms float64
	for _, v := range g {
		ms += float64(v) * float64(v)
	}
	ms /= float64(len(g))
	for i, v := range g {
		if ms > 0 {
			g[i] = float32((1 + float64(v)*float64(v)/ms) / 2)
		} else {
			g[i] = 1
		}
	}
	return g
}

// softmax returns the probabilities of logits z.
func softmax(z []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v))
	}
	p := make([]float64, len(z))
	var s float64
	for i, v := range z {
		p[i] = math.Exp(float64(v) - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}
