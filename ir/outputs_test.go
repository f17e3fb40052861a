package ir_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

// TestFirstOutput sets aside the three outputs testmodels.WithExtraOutputs adds, puts them
// back on the canonical form (whose Identity is bypassed, so the features are made again), and
// refuses to put them back on a model that lacks a value they read.
func TestFirstOutput(t *testing.T) {
	read := func() *ir.Model {
		m, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		return testmodels.WithExtraOutputs(m)
	}
	m := read()
	nodes := len(m.Graph.Nodes)
	e, err := ir.FirstOutput(m, "")
	if err != nil {
		t.Fatal(err)
	}
	if e == nil || !slices.Equal(e.Names(), []string{"probs", "features", "aux"}) || len(m.Graph.Outputs) != 1 {
		t.Fatalf("set aside %v, %d outputs left", e.Names(), len(m.Graph.Outputs))
	}
	if got := len(m.Graph.Nodes); got != nodes-3 || m.Graph.Initializer("aux.weight") != nil {
		t.Errorf("%d nodes left of %d, aux.weight kept: want the Softmax, Flatten and Gemm gone with their weights", got, nodes)
	}
	if err := ir.Canonicalize(m); err != nil {
		t.Fatal(err)
	}
	if err := e.Restore(m); err != nil {
		t.Fatal(err)
	}
	if err := ir.Validate(m); err != nil {
		t.Fatalf("restored model: %v", err)
	}
	var names []string
	for _, o := range m.Graph.Outputs {
		names = append(names, o.Name)
	}
	if !slices.Equal(names, []string{"logits", "probs", "features", "aux"}) {
		t.Errorf("outputs %v after Restore", names)
	}
	if p := m.Graph.Producers()["features"]; p == nil || p.OpType != "Identity" {
		t.Errorf("features made by %v, want an Identity of the pooled value", p)
	}

	m = read()
	if e, err = ir.FirstOutput(m, ""); err != nil {
		t.Fatal(err)
	}
	if err := ir.Canonicalize(m); err != nil {
		t.Fatal(err)
	}
	m.Graph.Rename("pooled", "renamed")
	for _, n := range m.Graph.Nodes {
		for i, o := range n.Outputs {
			if o == "pooled" {
				n.Outputs[i] = "renamed"
			}
		}
	}
	if err := e.Restore(m); err == nil || !strings.Contains(err.Error(), `reads "pooled", which the model written no longer has`) {
		t.Errorf("Restore onto a model without the pooled value: %v", err)
	}
	one, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := ir.FirstOutput(one, ""); e != nil || err != nil {
		t.Errorf("a model with one output: %v set aside, error %v", e.Names(), err)
	}

	// The logits named, not first: set aside are the others, put back in the model's order.
	m = read()
	if e, err = ir.FirstOutput(m, "aux"); err != nil {
		t.Fatal(err)
	}
	if m.Graph.Outputs[0].Name != "aux" || !slices.Equal(e.Names(), []string{"probs", "features", "logits"}) {
		t.Errorf("--logits aux: working output %s, set aside %v", m.Graph.Outputs[0].Name, e.Names())
	}
	if err := e.Restore(m); err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, o := range m.Graph.Outputs {
		names = append(names, o.Name)
	}
	if !slices.Equal(names, []string{"logits", "probs", "features", "aux"}) {
		t.Errorf("outputs %v after Restore, want the model's order", names)
	}
	if _, err := ir.FirstOutput(read(), "scores"); err == nil || !strings.Contains(err.Error(), `no output "scores"; its outputs are logits, probs, features, aux`) {
		t.Errorf("an output that is not there: %v", err)
	}
}
