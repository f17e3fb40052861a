package ir

import (
	"fmt"
	"strconv"
)

// Model is a whole ONNX model: one graph plus the model-level fields ONNX carries.
type Model struct {
	IRVersion       int64      // ONNX ir_version; export raises it to what the QDQ types need
	Opsets          []Opset    // in file order; the default domain is ""
	ProducerName    string     // tool that wrote the file; export sets "sharpq"
	ProducerVersion string     // that tool's version; export sets it from "sharpq.version" metadata
	Domain          string     // ONNX model domain, kept for round trips; "" is not written
	ModelVersion    int64      // ONNX model_version, kept for round trips; 0 is not written
	DocString       string     // model doc_string, kept for round trips; "" is not written
	Metadata        []KeyValue // metadata_props in file order; SetMetadata edits it
	Graph           *Graph     // the main graph; Encode rejects a model without one
}

// Opset names the version of one operator domain.
type Opset struct {
	Domain  string // "" or "ai.onnx" for the default ONNX domain
	Version int64  // operator set version imported for Domain
}

// KeyValue is one metadata_props entry.
type KeyValue struct {
	Key, Value string // the entry's key and its value
}

// Opset returns the version imported for domain ("" or "ai.onnx" for the default domain),
// or 0 if the model does not import it.
func (m *Model) Opset(domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range m.Opsets {
		d := o.Domain
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return o.Version
		}
	}
	return 0
}

// SetOpset sets (or adds) the version imported for domain.
func (m *Model) SetOpset(domain string, version int64) {
	for i, o := range m.Opsets {
		if o.Domain == domain || (domain == "" && o.Domain == "ai.onnx") {
			m.Opsets[i].Version = version
			return
		}
	}
	m.Opsets = append(m.Opsets, Opset{Domain: domain, Version: version})
}

// SetMetadata sets (or adds) a metadata_props entry.
func (m *Model) SetMetadata(key, value string) {
	for i, kv := range m.Metadata {
		if kv.Key == key {
			m.Metadata[i].Value = value
			return
		}
	}
	m.Metadata = append(m.Metadata, KeyValue{key, value})
}

// Value describes a named tensor value: element type and shape. A dimension of -1 is
// unknown; DimNames, when non-nil, keeps the symbolic name of each such dimension.
type Value struct {
	Name     string   // value name as node inputs and outputs spell it
	DType    DType    // element type; Undefined when the model does not say
	Shape    []int64  // one entry per dimension, -1 when unknown; nil when even the rank is unknown
	DimNames []string // per dimension, the dim_param name or "" (see above)
}

// Static reports whether every dimension is known.
func (v *Value) Static() bool {
	for _, d := range v.Shape {
		if d < 0 {
			return false
		}
	}
	return v.Shape != nil
}

// Graph is a computation graph in topological order.
type Graph struct {
	Name         string    // graph name, written back on export
	DocString    string    // graph doc_string, kept for round trips; "" is not written
	Inputs       []*Value  // runtime inputs only; initializers are not listed here
	Outputs      []*Value  // graph outputs in file order; InferShapes merges in computed types
	Initializers []*Tensor // constant tensors (weights and others); call Index after editing directly
	Nodes        []*Node   // operators in topological order

	// ValueInfo maps every value name whose type is known to its type. Inputs, initializers
	// and the file's value_info entries are in it once decoded; InferShapes adds every value
	// it can type, the outputs included.
	ValueInfo map[string]*Value

	inits map[string]*Tensor
	names map[string]int // counters for UniqueName
}

// Node is one operator application.
type Node struct {
	Name    string   // node name; may be "", and is then not written
	OpType  string   // operator type within Domain, e.g. "Conv"
	Domain  string   // "" for the default ONNX domain
	Inputs  []string // value names in the operator's input order; "" skips an optional input
	Outputs []string // value names the node produces; "" leaves an optional output unused
	Attrs   []Attr   // attributes in file order; see Attr and SetAttr
	Doc     string   // node doc_string, kept for round trips; "" is not written
}

// String names the node for error messages: `"name" (OpType)`.
func (n *Node) String() string {
	return fmt.Sprintf("%q (%s)", n.Name, n.OpType)
}

// Input returns input i, or "" when it is absent (ONNX's empty name for a skipped optional).
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, ValueInfo: map[string]*Value{}}
}

// Index rebuilds lookup tables after direct edits of Initializers.
func (g *Graph) Index() {
	g.inits = make(map[string]*Tensor, len(g.Initializers))
	for _, t := range g.Initializers {
		g.inits[t.Name] = t
	}
	if g.ValueInfo == nil {
		g.ValueInfo = map[string]*Value{}
	}
}

// Initializer returns the initializer named name, or nil.
func (g *Graph) Initializer(name string) *Tensor {
	if g.inits == nil || len(g.inits) != len(g.Initializers) {
		g.Index()
	}
	return g.inits[name]
}

// AddInitializer appends t as an initializer and records its type.
func (g *Graph) AddInitializer(t *Tensor) {
	g.Initializers = append(g.Initializers, t)
	if g.inits == nil {
		g.Index()
	}
	g.inits[t.Name] = t
	g.ValueInfo[t.Name] = &Value{Name: t.Name, DType: t.DType, Shape: append([]int64{}, t.Shape...)} // non-nil: a scalar has rank 0, not an unknown shape
}

// RemoveInitializer drops the initializer named name, if present.
func (g *Graph) RemoveInitializer(name string) {
	out := g.Initializers[:0]
	for _, t := range g.Initializers {
		if t.Name != name {
			out = append(out, t)
		}
	}
	g.Initializers = out
	g.Index()
}

// AddNode appends a node and returns it.
func (g *Graph) AddNode(n *Node) *Node {
	g.Nodes = append(g.Nodes, n)
	return n
}

// UniqueName returns a value or node name starting with prefix that the graph does not use.
func (g *Graph) UniqueName(prefix string) string {
	if g.names == nil {
		g.names = map[string]int{}
	}
	used := g.usedNames()
	for {
		g.names[prefix]++
		name := prefix + "_" + strconv.Itoa(g.names[prefix])
		if !used[name] {
			return name
		}
	}
}

func (g *Graph) usedNames() map[string]bool {
	used := map[string]bool{}
	for _, v := range g.Inputs {
		used[v.Name] = true
	}
	for _, t := range g.Initializers {
		used[t.Name] = true
	}
	for _, n := range g.Nodes {
		used[n.Name] = true
		for _, o := range n.Outputs {
			used[o] = true
		}
	}
	return used
}

// Producers maps each value name to the node that produces it.
func (g *Graph) Producers() map[string]*Node {
	p := map[string]*Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				p[o] = n
			}
		}
	}
	return p
}

// Consumers maps each value name to the nodes that read it, in graph order.
func (g *Graph) Consumers() map[string][]*Node {
	c := map[string][]*Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				c[in] = append(c[in], n)
			}
		}
	}
	return c
}

// IsOutput reports whether name is a graph output.
func (g *Graph) IsOutput(name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// Input returns the graph input named name, or nil.
func (g *Graph) Input(name string) *Value {
	for _, v := range g.Inputs {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// Rename replaces every use of value old by new (node inputs and graph outputs).
func (g *Graph) Rename(old, new string) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == old {
				n.Inputs[i] = new
			}
		}
	}
	for _, o := range g.Outputs {
		if o.Name == old {
			o.Name = new
		}
	}
}

// ParamCount returns the number of elements in float initializers (the model's parameters).
func (g *Graph) ParamCount() int64 {
	var n int64
	for _, t := range g.Initializers {
		if t.DType.IsFloat() {
			n += t.Len()
		}
	}
	return n
}
