package quantizer

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// BlockKind tells a residual block from a layer that stands alone.
type BlockKind string

// Block kinds.
const (
	Residual BlockKind = "residual" // from a branch point to the join (Add, Concat) where the branches meet, and its activation
	Single   BlockKind = "layer"    // quantizable layers in a chain, each with the nodes that follow it
)

// Block is a unit of reconstruction: a span of consecutive graph nodes with one input value
// and one output value.
type Block struct {
	Name   string     // "block00", "block01", … in graph order
	Kind   BlockKind  // Residual or Single
	Input  string     // the one value computed outside the block that its nodes read
	Output string     // the value the block hands on: its last node's first output
	Nodes  []*ir.Node // the block's consecutive nodes, in graph order
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
var activations = map[string]bool{"Relu": true, "Clip": true, "LeakyRelu": true, "HardSwish": true, "Swish": true, "Sigmoid": true, "Tanh": true}

// joins are the operators that end a multi-branch span as a block of its own: residual sums
// (ResNet, MobileNetV2) and concatenations (DenseNet, SqueezeNet's fire modules, ShuffleNet).
// A gating Mul (squeeze-and-excitation) is not one: such a span stays in the chain around it,
// so an inverted residual with SE is reconstructed whole.
var joins = map[string]bool{"Add": true, "Sum": true, "Concat": true}

// Partition splits the graph into reconstruction blocks, in graph order: multi-branch blocks
// found from the graph (the span from a value that every path passes through to the join
// where the branches meet again, with a following activation), and every other quantizable
// layer with the non-quantizable nodes that follow it, consecutive such layers between the
// first and the last merged into one "layer" block (the first and the last stand alone). The
// graph's nodes must be in topological order.
func Partition(g *ir.Graph) ([]Block, error) {
	owner := make([]int, len(g.Nodes)) // block index+1 per node; 0 = unassigned
	var blocks []Block
	consumers := g.Consumers()
	for _, sp := range branchedSpans(g, consumers) {
		end := sp.end
		n := g.Nodes[end]
		if cs := consumers[n.Outputs[0]]; len(cs) == 1 && activations[cs[0].OpType] && !g.IsOutput(n.Outputs[0]) && end+1 < len(g.Nodes) && g.Nodes[end+1] == cs[0] {
			end++
		}
		blk := Block{Kind: Residual, Input: sp.input, Output: g.Nodes[end].Outputs[0]}
		for k := sp.start; k <= end; k++ {
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
	out = closeBlocks(g, mergeChains(appendLayerless(g, out)))
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

// closeBlocks merges each block that reads a value computed outside it, other than its
// input, into the block before it, until every block has one input (a gating Mul right
// after the first layer, say, reads the first layer's output past the pooling that feeds it).
func closeBlocks(g *ir.Graph, blocks []Block) []Block {
	var out []Block
	for _, b := range blocks {
		out = append(out, b)
		for len(out) > 1 && !closed(g, &out[len(out)-1]) {
			last, prev := out[len(out)-1], &out[len(out)-2]
			prev.Nodes = append(prev.Nodes, last.Nodes...)
			prev.Output = last.Output
			if prev.Kind != last.Kind {
				prev.Kind = Residual
			}
			out = out[:len(out)-1]
		}
	}
	return out
}

// closed reports whether every value b's nodes read is b's input, an initializer, a graph
// input that is b's input, or computed inside b.
func closed(g *ir.Graph, b *Block) bool {
	inside := map[string]bool{b.Input: true}
	for _, n := range b.Nodes {
		for _, in := range n.Inputs {
			if in != "" && !inside[in] && g.Initializer(in) == nil {
				return false
			}
		}
		for _, o := range n.Outputs {
			inside[o] = true
		}
	}
	return true
}

// appendLayerless moves the nodes of a block without a quantizable layer (ShuffleNet's channel
// shuffle after its join, say) into the block before it: alone it would have nothing to learn.
func appendLayerless(g *ir.Graph, blocks []Block) []Block {
	var out []Block
	for _, b := range blocks {
		if len(out) > 0 && !hasLayer(g, b.Nodes) {
			last := &out[len(out)-1]
			last.Nodes = append(last.Nodes, b.Nodes...)
			last.Output = b.Output
			continue
		}
		out = append(out, b)
	}
	return out
}

// mergeChains joins runs of consecutive single-layer blocks between the first and the last
// block into one block: the span between two residual joins, as DESIGN.md has it. In
// MobileNetV2 that makes an inverted residual without a shortcut (expand, depthwise,
// project) one block, which reconstruction fits jointly instead of layer by layer, and two
// such in a row (features.1 and 2; 17 and the 1×1 convolution after it) one block too.
// BRECQ's and GENIE's code reconstruct each inverted residual on its own; split so, at each
// linear bottleneck, mobilenetv2_fmnist W4A4 lost 0.26 points over two seeds (BENCHMARKS.md,
// "One block per inverted residual"). The first layer (float input) and the last stay alone.
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

// span is a range of node indices [start, end] whose only input from earlier nodes is input.
type span struct {
	start, end int
	input      string
}

// branchedSpans returns the spans between consecutive cut values (values that every path from
// the graph's input to its output passes through: when one is computed, no earlier value is
// still waiting for a consumer) that hold more than one node, end in a join and contain a
// quantizable layer. Inside a plain chain every value is a cut, so chains yield no span.
func branchedSpans(g *ir.Graph, consumers map[string][]*ir.Node) []span {
	pos := map[string]int{}
	for _, v := range g.Inputs {
		pos[v.Name] = -1
	}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			pos[o] = i
		}
	}
	// lastUse[i+1] is the index of the last node that reads an output of node i (i = −1: the
	// graph inputs); graph outputs count as read after the last node.
	lastUse := make([]int, len(g.Nodes)+1)
	for i := range lastUse {
		lastUse[i] = i - 1
	}
	for j, n := range g.Nodes {
		for _, in := range n.Inputs {
			if p, ok := pos[in]; ok && in != "" {
				lastUse[p+1] = max(lastUse[p+1], j)
			}
		}
	}
	for _, o := range g.Outputs {
		if p, ok := pos[o.Name]; ok {
			lastUse[p+1] = len(g.Nodes)
		}
	}
	cutValue := func(i int) string { // the one value of node i (or the inputs, i = −1) read later, or ""
		var outs []string
		if i < 0 {
			for _, v := range g.Inputs {
				outs = append(outs, v.Name)
			}
		} else {
			outs = g.Nodes[i].Outputs
		}
		val := ""
		for _, o := range outs {
			if o == "" || g.Initializer(o) != nil {
				continue
			}
			if len(consumers[o]) > 0 || g.IsOutput(o) {
				if val != "" {
					return ""
				}
				val = o
			}
		}
		return val
	}
	var spans []span
	reach := lastUse[0] // the furthest reader of any value computed before node i
	prev, prevValue := -1, cutValue(-1)
	for i, n := range g.Nodes {
		cut := reach <= i
		reach = max(reach, lastUse[i+1])
		v := cutValue(i)
		if !cut || v == "" {
			continue
		}
		// Node i's output is the only value still waiting for a reader: a cut.
		if prevValue != "" && i-prev > 1 && joins[n.OpType] && n.Domain == "" && hasLayer(g, g.Nodes[prev+1:i+1]) {
			spans = append(spans, span{start: prev + 1, end: i, input: prevValue})
		}
		prev, prevValue = i, v
	}
	return spans
}

// hasLayer reports whether any of nodes is a quantizable layer.
func hasLayer(g *ir.Graph, nodes []*ir.Node) bool {
	for _, n := range nodes {
		if IsQuantizable(g, n) {
			return true
		}
	}
	return false
}
