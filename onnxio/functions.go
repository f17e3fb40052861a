package onnxio

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/sharpq/sharpq/onnxio/internal/onnxpb"
)

// maxInlinedNodes bounds the graph that inlining may make: functions that call each other
// twice over, a few dozen deep, would otherwise expand into billions of nodes from a few
// kilobytes.
const maxInlinedNodes = 1 << 18

// funcKey identifies a model-local function: its domain ("" for ai.onnx), name and overload.
type funcKey struct{ domain, name, overload string }

func (k funcKey) String() string {
	s := k.name
	if k.domain != "" {
		s = k.domain + "." + s
	}
	if k.overload != "" {
		s += ":" + k.overload
	}
	return s
}

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// inliner expands calls of model-local functions into their bodies.
type inliner struct {
	funcs  map[funcKey]*onnxpb.FunctionProto
	opsets map[string]int64 // the model's imports, by domain
	added  map[string]int64 // imports the inlined bodies need that the model lacks
	used   map[string]bool  // every value and node name in the graph, so new ones are unique
	calls  int              // calls inlined so far, to name nodes of unnamed calls
	nodes  int              // nodes the expansion has made so far
}

// inlineFunctions replaces every call of a model-local function (ModelProto.functions) in
// mp's graph by the function's body, recursively, so that the rest of sharpq sees ONNX
// operators only: PyTorch's exporter writes modules and aten operators as such functions
// until its optimiser inlines them. Values and nodes of a body get the calling node's name as
// a prefix; attributes that refer to the function's (ref_attr_name) take the call's value or
// the function's default. The functions themselves, and the imports of domains only they
// used, are dropped. A body must bind the model's own version of every domain both import.
func inlineFunctions(mp *onnxpb.ModelProto) error {
	if len(mp.GetFunctions()) == 0 {
		return nil
	}
	in := &inliner{funcs: map[funcKey]*onnxpb.FunctionProto{}, opsets: map[string]int64{}, added: map[string]int64{}, used: map[string]bool{}}
	for _, f := range mp.GetFunctions() {
		k := funcKey{normDomain(f.GetDomain()), f.GetName(), f.GetOverload()}
		if _, dup := in.funcs[k]; dup {
			return fmt.Errorf("function %s is defined twice", k)
		}
		in.funcs[k] = f
	}
	for _, o := range mp.GetOpsetImport() {
		in.opsets[normDomain(o.GetDomain())] = o.GetVersion()
	}
	g := mp.GetGraph()
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range vs {
			in.used[v.GetName()] = true
		}
	}
	for _, t := range g.GetInitializer() {
		in.used[t.GetName()] = true
	}
	for _, n := range g.GetNode() {
		in.used[n.GetName()] = true
		for _, v := range slices.Concat(n.GetInput(), n.GetOutput()) {
			in.used[v] = true
		}
	}
	nodes, err := in.expand(g.GetNode(), nil)
	if err != nil {
		return err
	}
	g.Node = nodes
	// Keep the imports some node still binds, and every import not of a function's domain.
	remaining := map[string]bool{}
	for _, n := range nodes {
		remaining[normDomain(n.GetDomain())] = true
	}
	funcDomains := map[string]bool{}
	for k := range in.funcs {
		funcDomains[k.domain] = true
	}
	imports := mp.OpsetImport[:0]
	for _, o := range mp.OpsetImport {
		if d := normDomain(o.GetDomain()); remaining[d] || !funcDomains[d] {
			imports = append(imports, o)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(in.added)) {
		imports = append(imports, &onnxpb.OperatorSetIdProto{Domain: proto.String(d), Version: proto.Int64(in.added[d])})
	}
	mp.OpsetImport = imports
	mp.Functions = nil
	return nil
}

// expand returns nodes with every function call replaced by its body; stack holds the
// functions being expanded, so that a function that calls itself is refused.
func (in *inliner) expand(nodes []*onnxpb.NodeProto, stack []funcKey) ([]*onnxpb.NodeProto, error) {
	var out []*onnxpb.NodeProto
	for _, n := range nodes {
		k := funcKey{normDomain(n.GetDomain()), n.GetOpType(), n.GetOverload()}
		f, ok := in.funcs[k]
		if !ok {
			out = append(out, n)
			continue
		}
		if slices.Contains(stack, k) {
			return nil, fmt.Errorf("node %q: function %s calls itself (through %v); ONNX functions cannot recurse", n.GetName(), k, stack)
		}
		if err := in.bindOpsets(f, k); err != nil {
			return nil, fmt.Errorf("node %q: %w", n.GetName(), err)
		}
		body, err := in.instantiate(n, f, k)
		if err != nil {
			return nil, err
		}
		if in.nodes += len(body); in.nodes > maxInlinedNodes {
			return nil, fmt.Errorf("inlining the model's functions makes more than %d nodes (function %s, called by node %q)", maxInlinedNodes, k, n.GetName())
		}
		body, err = in.expand(body, append(stack, k))
		if err != nil {
			return nil, err
		}
		out = append(out, body...)
	}
	return out, nil
}

// bindOpsets checks that f's imports agree with the model's, and notes those the model lacks.
func (in *inliner) bindOpsets(f *onnxpb.FunctionProto, k funcKey) error {
	for _, o := range f.GetOpsetImport() {
		d, v := normDomain(o.GetDomain()), o.GetVersion()
		if mv, ok := in.opsets[d]; ok && mv != v {
			name := "ONNX"
			if d != "" {
				name = strconv.Quote(d)
			}
			return fmt.Errorf("function %s imports %s opset %d, the model %d; sharpq inlines a function only at the model's own opsets", k, name, v, mv)
		}
		if _, ok := in.opsets[d]; !ok {
			if av, ok := in.added[d]; ok && av != v {
				return fmt.Errorf("function %s imports opset %d of %q, another function %d", k, v, d, av)
			}
			in.added[d] = v
		}
	}
	return nil
}

// unique returns name, or name with a suffix when the graph has it already, and reserves it.
func (in *inliner) unique(name string) string {
	u := name
	for i := 1; in.used[u]; i++ {
		u = name + "_" + strconv.Itoa(i)
	}
	in.used[u] = true
	return u
}

// instantiate returns f's body as called by call: its formal inputs and outputs renamed to
// the call's, its other values and its nodes prefixed with the call's name, and its
// attribute references resolved.
func (in *inliner) instantiate(call *onnxpb.NodeProto, f *onnxpb.FunctionProto, k funcKey) ([]*onnxpb.NodeProto, error) {
	in.calls++
	prefix := call.GetName()
	if prefix == "" {
		prefix = f.GetName() + "_" + strconv.Itoa(in.calls)
	}
	if len(call.GetInput()) > len(f.GetInput()) {
		return nil, fmt.Errorf("node %q passes %d inputs to function %s, which takes %d", call.GetName(), len(call.GetInput()), k, len(f.GetInput()))
	}
	if len(call.GetOutput()) > len(f.GetOutput()) {
		return nil, fmt.Errorf("node %q takes %d outputs from function %s, which has %d", call.GetName(), len(call.GetOutput()), k, len(f.GetOutput()))
	}
	rename := map[string]string{}
	for i, formal := range f.GetInput() {
		rename[formal] = ""
		if i < len(call.GetInput()) {
			rename[formal] = call.GetInput()[i]
		}
	}
	outputs := map[string]string{}
	for i, formal := range f.GetOutput() {
		if i < len(call.GetOutput()) && call.GetOutput()[i] != "" {
			outputs[formal] = call.GetOutput()[i]
		}
	}
	attrs := map[string]*onnxpb.AttributeProto{}
	for _, a := range f.GetAttributeProto() {
		attrs[a.GetName()] = a
	}
	for _, a := range call.GetAttribute() {
		attrs[a.GetName()] = a
	}
	made := map[string]bool{}
	var body []*onnxpb.NodeProto
	for i, bn := range f.GetNode() {
		n := proto.Clone(bn).(*onnxpb.NodeProto)
		name := bn.GetName()
		if name == "" {
			name = bn.GetOpType() + "_" + strconv.Itoa(i)
		}
		n.Name = proto.String(in.unique(prefix + "/" + name))
		for j, v := range n.Input {
			if v == "" {
				continue
			}
			r, ok := rename[v]
			if !ok {
				return nil, fmt.Errorf("function %s: node %q reads %q, which is neither an input of the function nor made in it", k, bn.GetName(), v)
			}
			n.Input[j] = r
		}
		for j, v := range n.Output {
			if v == "" {
				continue
			}
			if _, ok := rename[v]; ok {
				return nil, fmt.Errorf("function %s: node %q writes %q, which is already a value of the function", k, bn.GetName(), v)
			}
			r, ok := outputs[v]
			if !ok {
				r = in.unique(prefix + "/" + v)
			}
			rename[v], made[v] = r, true
			n.Output[j] = r
		}
		n.Attribute = n.Attribute[:0]
		for _, a := range bn.GetAttribute() {
			ref := a.GetRefAttrName()
			if ref == "" {
				n.Attribute = append(n.Attribute, a)
				continue
			}
			if !slices.Contains(f.GetAttribute(), ref) && !slices.ContainsFunc(f.GetAttributeProto(), func(d *onnxpb.AttributeProto) bool { return d.GetName() == ref }) {
				return nil, fmt.Errorf("function %s: node %q refers to attribute %q, which the function does not declare", k, bn.GetName(), ref)
			}
			v, ok := attrs[ref]
			if !ok {
				continue // neither given nor defaulted: the operator's own default holds
			}
			c := proto.Clone(v).(*onnxpb.AttributeProto)
			c.Name, c.RefAttrName = proto.String(a.GetName()), nil
			n.Attribute = append(n.Attribute, c)
		}
		body = append(body, n)
	}
	// A formal output no node makes is one of the inputs, passed through.
	for i, formal := range f.GetOutput() {
		actual, wanted := outputs[formal]
		if !wanted || made[formal] {
			continue
		}
		src, ok := rename[formal]
		if !ok || src == "" {
			return nil, fmt.Errorf("function %s: output %d (%q) is never made", k, i, formal)
		}
		body = append(body, &onnxpb.NodeProto{Name: proto.String(in.unique(prefix + "/" + formal)), OpType: proto.String("Identity"),
			Input: []string{src}, Output: []string{actual}})
	}
	return body, nil
}
