package ir

import (
	"fmt"
	"slices"
	"strings"
)

// ExtraOutputs are the graph outputs after the first that FirstOutput took from a model
// (probabilities beside logits, features beside them, an auxiliary head), with the nodes and
// initializers only they needed, kept to be put back on a model made from it (Restore).
type ExtraOutputs struct {
	order   []string // every output's name, in the model's order
	outputs []*Value
	nodes   []*Node
	inits   []*Tensor
	// passes maps the output of each Identity or Dropout of the original model to its input:
	// sharpq bypasses them, so a value an extra output reads may be gone from the model
	// written and is made again from the one it passed on.
	passes map[string]string
}

// FirstOutput rewrites a model with several outputs into the same model computing one of
// them only, taken as the logits: the one called logits, or the first when logits is "".
// Every command works on one output. It returns what it took away, or nil when the model has
// one output; a logits that names no output is an error listing them.
func FirstOutput(m *Model, logits string) (*ExtraOutputs, error) {
	g := m.Graph
	var order []string
	for _, o := range g.Outputs {
		order = append(order, o.Name)
	}
	if logits != "" {
		at := slices.Index(order, logits)
		if at < 0 {
			return nil, fmt.Errorf("the model has no output %q; its outputs are %s", logits, strings.Join(order, ", "))
		}
		g.Outputs[0], g.Outputs[at] = g.Outputs[at], g.Outputs[0]
	}
	if len(g.Outputs) <= 1 {
		return nil, nil
	}
	e := &ExtraOutputs{order: order, passes: map[string]string{}}
	for _, o := range g.Outputs[1:] {
		c := *o
		c.Shape, c.DimNames = slices.Clone(o.Shape), slices.Clone(o.DimNames)
		e.outputs = append(e.outputs, &c)
	}
	for _, n := range g.Nodes {
		if (n.OpType == "Identity" || n.OpType == "Dropout") && n.Domain == "" && len(n.Inputs) > 0 && len(n.Outputs) > 0 {
			e.passes[n.Outputs[0]] = n.Inputs[0]
		}
	}
	nodes, inits := slices.Clone(g.Nodes), slices.Clone(g.Initializers)
	g.Outputs = g.Outputs[:1]
	PruneDead(g)
	kept := map[*Node]bool{}
	for _, n := range g.Nodes {
		kept[n] = true
	}
	for _, n := range nodes {
		if !kept[n] {
			e.nodes = append(e.nodes, n.clone())
		}
	}
	for _, t := range inits {
		if g.Initializer(t.Name) == nil {
			e.inits = append(e.inits, t)
		}
	}
	return e, nil
}

// Values returns copies of the outputs FirstOutput took away, in the model's order.
func (e *ExtraOutputs) Values() []*Value {
	if e == nil {
		return nil
	}
	var vs []*Value
	for _, o := range e.outputs {
		c := *o
		c.Shape, c.DimNames = slices.Clone(o.Shape), slices.Clone(o.DimNames)
		vs = append(vs, &c)
	}
	return vs
}

// Names lists the outputs FirstOutput took away.
func (e *ExtraOutputs) Names() []string {
	if e == nil {
		return nil
	}
	var names []string
	for _, o := range e.outputs {
		names = append(names, o.Name)
	}
	return names
}

// Restore puts the outputs FirstOutput took away back on m, a model made from the one it
// rewrote (the quantized model), in the original order, with the nodes that compute them, in
// float, from the values m has. A value that m no longer has, other than one an Identity or Dropout passed on, is an
// error naming it.
func (e *ExtraOutputs) Restore(m *Model) error {
	if e == nil {
		return nil
	}
	g := m.Graph
	defined := map[string]bool{"": true}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for _, t := range g.Initializers {
		defined[t.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			defined[o] = true
		}
	}
	for _, t := range e.inits {
		if defined[t.Name] {
			return fmt.Errorf("ir: restoring outputs %v: initializer %q is already a value of the model", e.Names(), t.Name)
		}
		g.AddInitializer(t.Clone())
		defined[t.Name] = true
	}
	var ensure func(v, reader string) error
	ensure = func(v, reader string) error {
		if defined[v] {
			return nil
		}
		from, ok := e.passes[v]
		if !ok {
			return fmt.Errorf("ir: restoring outputs %v: %s reads %q, which the model written no longer has", e.Names(), reader, v)
		}
		if err := ensure(from, reader); err != nil {
			return err
		}
		g.Nodes = append(g.Nodes, &Node{Name: g.UniqueName(v + "_identity"), OpType: "Identity", Inputs: []string{from}, Outputs: []string{v}})
		defined[v] = true
		return nil
	}
	for _, n := range e.nodes {
		for _, in := range n.Inputs {
			if err := ensure(in, fmt.Sprintf("node %s", n)); err != nil {
				return err
			}
		}
		for _, o := range n.Outputs {
			if defined[o] {
				return fmt.Errorf("ir: restoring outputs %v: node %s writes %q, which is already a value of the model", e.Names(), n, o)
			}
			defined[o] = true
		}
		g.Nodes = append(g.Nodes, n.clone())
	}
	for _, o := range e.outputs {
		if err := ensure(o.Name, fmt.Sprintf("output %q", o.Name)); err != nil {
			return err
		}
		c := *o
		g.Outputs = append(g.Outputs, &c)
		g.ValueInfo[o.Name] = &c
	}
	// The model's own order, whichever output was taken as the logits.
	slices.SortStableFunc(g.Outputs, func(a, b *Value) int {
		return slices.Index(e.order, a.Name) - slices.Index(e.order, b.Name)
	})
	g.Index()
	return nil
}
