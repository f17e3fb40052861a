package ir

// foldPadsIntoConvs moves an explicit zero Pad of the spatial axes into the padding of the
// Convs that read it, as TensorFlow exporters write Keras' ZeroPadding2D and "same" padding
// of strided convolutions (Pad, then Conv with no padding). Left as a node, the Pad would sit
// between a layer's input and its activation quantizer, and keep ONNX Runtime from fusing the
// pair. The Pad node is left for PruneDead.
func foldPadsIntoConvs(g *Graph) {
	consumers := g.Consumers()
	for _, n := range g.Nodes {
		if n.OpType != "Pad" || n.Domain != "" || len(n.Outputs) != 1 || g.IsOutput(n.Outputs[0]) {
			continue
		}
		convs := consumers[n.Outputs[0]]
		if len(convs) == 0 {
			continue
		}
		rank := 0
		for _, c := range convs {
			w := g.Initializer(c.Input(1))
			if c.OpType != "Conv" || c.Domain != "" || c.Input(0) != n.Outputs[0] || w == nil ||
				c.AttrString("auto_pad", "NOTSET") != "NOTSET" || (rank != 0 && len(w.Shape) != rank) {
				rank = -1
				break
			}
			rank = len(w.Shape)
		}
		if rank < 3 {
			continue
		}
		begin, end, ok := spatialZeroPads(g, n, rank)
		if !ok {
			continue
		}
		for _, c := range convs {
			pads := c.AttrInts("pads", make([]int64, 2*(rank-2)))
			if len(pads) != 2*(rank-2) {
				continue // malformed; the shape rules will name it
			}
			for i := range begin {
				pads[i] += begin[i]
				pads[i+rank-2] += end[i]
			}
			c.SetAttr(IntsAttr("pads", pads...))
			c.Inputs[0] = n.Input(0)
		}
	}
}

// spatialZeroPads returns the begin and end padding of the spatial axes of Pad node n, whose
// input has the given rank, when n pads with zeros, only spatial axes, and never crops.
func spatialZeroPads(g *Graph, n *Node, rank int) (begin, end []int64, ok bool) {
	if n.AttrString("mode", "constant") != "constant" || n.Input(0) == "" {
		return nil, nil, false
	}
	pt := g.Initializer(n.Input(1))
	if pt == nil {
		return nil, nil, false
	}
	pads, err := pt.Int64s()
	if err != nil {
		return nil, nil, false
	}
	if v := n.Input(2); v != "" {
		t := g.Initializer(v)
		if t == nil {
			return nil, nil, false
		}
		f, err := t.Float64s()
		if err != nil || len(f) != 1 || f[0] != 0 {
			return nil, nil, false
		}
	}
	axes := make([]int64, rank)
	for i := range axes {
		axes[i] = int64(i)
	}
	if v := n.Input(3); v != "" {
		t := g.Initializer(v)
		if t == nil {
			return nil, nil, false
		}
		if axes, err = t.Int64s(); err != nil {
			return nil, nil, false
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, nil, false
	}
	begin, end = make([]int64, rank-2), make([]int64, rank-2)
	seen := make([]bool, rank)
	for i, a := range axes {
		if a < 0 {
			a += int64(rank)
		}
		if a < 0 || a >= int64(rank) || seen[a] {
			return nil, nil, false
		}
		seen[a] = true
		b, e := pads[i], pads[i+len(axes)]
		switch {
		case b < 0 || e < 0:
			return nil, nil, false
		case a < 2:
			if b != 0 || e != 0 {
				return nil, nil, false // batch or channel padding is not a convolution's
			}
		default:
			begin[a-2], end[a-2] = b, e
		}
	}
	return begin, end, true
}
