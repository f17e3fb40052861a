package ir

import "slices"

// staticBatch returns the batch size (axis 0) every graph input of g declares, or 0 when
// one is dynamic or they differ.
func staticBatch(g *Graph) int64 {
	var b int64
	for i, v := range g.Inputs {
		if len(v.Shape) == 0 || v.Shape[0] <= 0 || (i > 0 && v.Shape[0] != b) {
			return 0
		}
		b = v.Shape[0]
	}
	return b
}

// unbakeBatch rewrites the Reshapes of a model exported at a fixed batch size whose target
// shape the export's constant folding made hold that size (PyTorch's x.view(x.size(0), -1),
// or a channel shuffle's x.view(b, g, -1, h, w), exported at a static input shape becomes a
// Reshape to [1, -1] or [1, g, c, h, w]): a target whose first entry is the export's batch,
// reshaping a value computed from the input with that batch on axis 0, copies axis 0
// instead (0), so that the model runs at any batch size. It reports how many it rewrote.
func unbakeBatch(m *Model, from int64) (int, error) {
	g := m.Graph
	if !slices.ContainsFunc(g.Nodes, func(n *Node) bool {
		t := g.Initializer(n.Input(1))
		return n.OpType == "Reshape" && t != nil && t.DType == Int64 && len(t.I64) > 0 && t.I64[0] == from
	}) {
		return 0, nil
	}
	// The shapes at the fixed batch, with the shape arithmetic folded (a Split whose sizes are
	// computed, as torch's chunk exports, has unknown outputs until then), on a copy: folding
	// it would make that batch a constant in more places.
	c := &Model{Graph: g.shallowCopy(), Opsets: m.Opsets, IRVersion: m.IRVersion}
	for {
		if err := InferShapes(c); err != nil {
			return 0, err
		}
		changed, err := foldConstants(c.Graph)
		if err != nil {
			return 0, err
		}
		if !changed {
			break
		}
	}
	shapes := c.Graph.ValueInfo
	fromInput := map[string]bool{}
	for _, v := range g.Inputs {
		fromInput[v.Name] = true
	}
	rewritten := 0
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if fromInput[in] {
				for _, o := range n.Outputs {
					fromInput[o] = true
				}
				break
			}
		}
		if n.OpType != "Reshape" || n.Domain != "" || len(n.Inputs) != 2 || !fromInput[n.Inputs[0]] || n.AttrInt("allowzero", 0) != 0 {
			continue
		}
		x, target := shapes[n.Inputs[0]], g.Initializer(n.Inputs[1])
		if x == nil || len(x.Shape) == 0 || x.Shape[0] != from || target == nil || target.DType != Int64 || len(target.I64) == 0 || target.I64[0] != from {
			continue
		}
		copyBatch := target.Clone()
		copyBatch.Name = g.UniqueName(target.Name + "_any_batch")
		copyBatch.I64[0] = 0
		g.AddInitializer(copyBatch)
		n.Inputs[1] = copyBatch.Name
		rewritten++
	}
	if rewritten > 0 {
		PruneDead(g)
	}
	return rewritten, nil
}
