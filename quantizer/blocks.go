package quantizer

import (
	"fmt"

	"github.com/sharpq/sharpq/internal/ir"
)

// BlockKind tells a residual block from a layer that stands alone.
type BlockKind string

// Block kinds.
const (
	Residual BlockKind = "residual" // from a branch point to a residual join (and its activation)
	Single   BlockKind = "layer"    // one quantizable layer with the nodes that follow it
)

// Block is a unit of reconstruction: a span of consecutive graph nodes with one input value
// and one output value.
type Block struct {
	Name   string
	Kind   BlockKind
	Input  string
	Output string
	Nodes  []*ir.Node
	Layers []*ir.Node // the quantizable layers (Conv, Gemm, MatMul with a constant weight)
}

// IsQuantizable reports whether n is a layer whose weight sharpq quantizes: Conv, Gemm or
// MatMul whose input 1 is an initializer.
func IsQuantizable(g *ir.Graph, n *ir.Node) bool {
	switch n.OpType {
	case "Conv", "Gemm", "MatMul":
		return n.Domain == "" && g.Initializer(n.Input(1)) != nil
	}
	return false
}

// activations are the ops a residual block takes along after its join.
var activations = map[string]bool{"Relu": true, "Clip": true, "LeakyRelu": true, "HardSwish": true, "Sigmoid": true, "Tanh": true}

// Partition splits the graph into reconstruction blocks, in graph order: residual blocks
// found from the graph (the span from the value that feeds both branches to the Add that
// joins them, with a following activation), and every other quantizable layer alone with the
// non-quantizable nodes that follow it.
func Partition(g *ir.Graph) ([]Block, error) {
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = i
		}
	}
	pos := func(v string) int {
		if i, ok := producer[v]; ok {
			return i
		}
		return -1 // graph input or initializer
	}
	consumers := g.Consumers()
	ancestors := func(v string) map[string]bool {
		seen := map[string]bool{}
		stack := []string{v}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[x] || g.Initializer(x) != nil {
				continue
			}
			seen[x] = true
			if i, ok := producer[x]; ok {
				stack = append(stack, g.Nodes[i].Inputs...)
			}
		}
		return seen
	}

	owner := make([]int, len(g.Nodes)) // block index+1 per node; 0 = unassigned
	var blocks []Block
	for j, n := range g.Nodes {
		if n.OpType != "Add" || len(n.Inputs) != 2 || g.Initializer(n.Inputs[0]) != nil || g.Initializer(n.Inputs[1]) != nil {
			continue
		}
		a, b := ancestors(n.Inputs[0]), ancestors(n.Inputs[1])
		branch, bpos := "", -2
		for v := range a {
			if b[v] && pos(v) > bpos {
				branch, bpos = v, pos(v)
			}
		}
		if branch == "" {
			continue
		}
		end := j
		if cs := consumers[n.Outputs[0]]; len(cs) == 1 && activations[cs[0].OpType] && !g.IsOutput(n.Outputs[0]) {
			end = producer[cs[0].Outputs[0]]
		}
		clash := false
		for k := bpos + 1; k <= end; k++ {
			if owner[k] != 0 {
				clash = true
			}
		}
		if clash {
			continue // nested or overlapping joins stay with the first block
		}
		blk := Block{Kind: Residual, Input: branch, Output: g.Nodes[end].Outputs[0]}
		for k := bpos + 1; k <= end; k++ {
			owner[k] = len(blocks) + 1
			blk.Nodes = append(blk.Nodes, g.Nodes[k])
		}
		blocks = append(blocks, blk)
	}

	// Everything else: one quantizable layer and its followers per block.
	var out []Block
	var cur *Block
	flush := func() {
		if cur != nil {
			cur.Output = cur.Nodes[len(cur.Nodes)-1].Outputs[0]
			out = append(out, *cur)
			cur = nil
		}
	}
	for i, n := range g.Nodes {
		if owner[i] != 0 {
			if i == 0 || owner[i-1] != owner[i] {
				flush()
				out = append(out, blocks[owner[i]-1])
			}
			continue
		}
		if cur == nil || IsQuantizable(g, n) && len(cur.Layers) > 0 {
			flush()
			cur = &Block{Kind: Single, Input: n.Inputs[0]}
		}
		cur.Nodes = append(cur.Nodes, n)
		if IsQuantizable(g, n) {
			cur.Layers = append(cur.Layers, n)
		}
	}
	flush()
	out = mergeChains(out)
	for i := range out {
		b := &out[i]
		b.Layers = nil
		for _, n := range b.Nodes {
			if IsQuantizable(g, n) {
				b.Layers = append(b.Layers, n)
			}
		}
		b.Name = fmt.Sprintf("block%02d", i)
	}
	return out, nil
}

// mergeChains joins runs of consecutive single-layer blocks between the first and the last
// block into one block: the span between two residual joins, as DESIGN.md has it. In
// MobileNetV2 that makes each inverted residual without a shortcut (expand, depthwise,
// project) one block, which reconstruction fits jointly (BRECQ's block granularity) instead
// of layer by layer. The first layer (float input) and the last stay alone.
func mergeChains(blocks []Block) []Block {
	if len(blocks) <= 3 {
		return blocks
	}
	out := []Block{blocks[0]}
	for i := 1; i < len(blocks)-1; i++ {
		b := blocks[i]
		last := &out[len(out)-1]
		if b.Kind == Single && last.Kind == Single && len(out) > 1 {
			last.Nodes = append(last.Nodes, b.Nodes...)
			last.Output = b.Output
			continue
		}
		out = append(out, b)
	}
	return append(out, blocks[len(blocks)-1])
}

// BNState says whether a model still carries BatchNormalization statistics.
type BNState struct {
	Nodes      int  // BatchNormalization nodes
	FoldedLike bool // no BN, and convolutions carry biases: BN was folded at export
}

// InspectBN counts BatchNormalization nodes and tells a BN-folded export apart from one that
// keeps the statistics data-free synthesis needs.
func InspectBN(g *ir.Graph) BNState {
	var s BNState
	convs, biased := 0, 0
	for _, n := range g.Nodes {
		switch n.OpType {
		case "BatchNormalization":
			s.Nodes++
		case "Conv":
			convs++
			if n.Input(2) != "" {
				biased++
			}
		}
	}
	s.FoldedLike = s.Nodes == 0 && convs > 0 && biased == convs
	return s
}
