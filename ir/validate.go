package ir

import (
	"fmt"
	"sort"
	"strings"
)

// UnsupportedOpsError lists every unsupported operator type in a graph, with one node using
// each, so that a user sees the whole problem at once.
type UnsupportedOpsError struct {
	Ops []UnsupportedOp // one entry per unsupported operator type; Validate sorts them by OpType
}

// UnsupportedOp is one unsupported operator type and the first node that uses it.
type UnsupportedOp struct {
	OpType, Domain, Node string // the operator type, its domain ("" for ONNX) and the name of the first node using it
}

// Error lists every unsupported operator type with one node that uses it.
func (e *UnsupportedOpsError) Error() string {
	parts := make([]string, len(e.Ops))
	for i, o := range e.Ops {
		op := o.OpType
		if o.Domain != "" {
			op = o.Domain + "." + op
		}
		parts[i] = fmt.Sprintf("%s (node %q)", op, o.Node)
	}
	return "unsupported operators: " + strings.Join(parts, ", ")
}

// Validate checks that the graph is well formed (every input defined before use, no value
// defined twice, outputs produced, every node with the inputs and outputs its operator
// takes) and that every operator is one sharpq supports.
func Validate(m *Model) error {
	g := m.Graph
	var unsupported []UnsupportedOp
	seenOp := map[string]bool{}
	for _, n := range g.Nodes {
		if _, ok := lookupOp(n.Domain, n.OpType); !ok {
			key := n.Domain + "." + n.OpType
			if !seenOp[key] {
				seenOp[key] = true
				unsupported = append(unsupported, UnsupportedOp{OpType: n.OpType, Domain: n.Domain, Node: n.Name})
			}
		}
	}
	if len(unsupported) > 0 {
		sort.SliceStable(unsupported, func(i, j int) bool { return unsupported[i].OpType < unsupported[j].OpType })
		return &UnsupportedOpsError{Ops: unsupported}
	}
	defined := map[string]bool{}
	for _, v := range g.Inputs {
		if defined[v.Name] {
			return fmt.Errorf("graph input %q listed twice", v.Name)
		}
		defined[v.Name] = true
	}
	for _, t := range g.Initializers {
		if defined[t.Name] {
			return fmt.Errorf("initializer %q is also a graph input", t.Name)
		}
		if err := t.Check(); err != nil {
			return err
		}
		defined[t.Name] = true
	}
	for _, n := range g.Nodes {
		if len(n.Outputs) == 0 {
			return fmt.Errorf("node %s has no outputs", n)
		}
		if err := checkArity(n); err != nil {
			return err
		}
		for i, in := range n.Inputs {
			if in != "" && !defined[in] {
				return fmt.Errorf("node %s input %d: value %q is not defined before use", n, i, in)
			}
		}
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if defined[o] {
				return fmt.Errorf("node %s: output %q is defined twice", n, o)
			}
			defined[o] = true
		}
	}
	for _, o := range g.Outputs {
		if !defined[o.Name] {
			return fmt.Errorf("graph output %q is not produced", o.Name)
		}
	}
	return nil
}

// CheckFinite reports the first float initializer holding a NaN or an infinity: training on
// such a model can only produce NaN.
func CheckFinite(g *Graph) error {
	for _, t := range g.Initializers {
		if t.HasNonFinite() {
			return fmt.Errorf("initializer %q holds NaN or infinite values", t.Name)
		}
	}
	return nil
}
