package autodiff

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// Domain is the operator domain of sharpq's pseudo-ops (RoundSTE, FloorSTE). They exist only
// while gradients are built; Lower rewrites them into standard ONNX.
const Domain = "sharpq"

// lowered maps each pseudo-op to the ONNX op it computes in the forward pass.
var lowered = map[string]string{
	"RoundSTE": "Round",
	"FloorSTE": "Floor",
}

// RoundSTE appends round(x) (half to even, as ONNX Round) whose gradient is the identity
// (straight-through estimator).
func (b *Builder) RoundSTE(x string) string { return b.Node(Domain, "RoundSTE", []string{x}, 1)[0] }

// FloorSTE appends floor(x) whose gradient is the identity (straight-through estimator).
func (b *Builder) FloorSTE(x string) string { return b.Node(Domain, "FloorSTE", []string{x}, 1)[0] }

// Lower rewrites every pseudo-op of domain "sharpq" into the standard op it computes
// (RoundSTE → Round, FloorSTE → Floor) and drops the domain's opset import, so that ONNX
// Runtime can run the graph. Call it after Grad.
func Lower(m *ir.Model) error {
	for _, n := range m.Graph.Nodes {
		if n.Domain != Domain {
			continue
		}
		op, ok := lowered[n.OpType]
		if !ok {
			return fmt.Errorf("autodiff: lower: node %s: unknown %s op", n, Domain)
		}
		n.Domain, n.OpType = "", op
	}
	kept := m.Opsets[:0]
	for _, o := range m.Opsets {
		if o.Domain != Domain {
			kept = append(kept, o)
		}
	}
	m.Opsets = kept
	return nil
}
