package onnxio_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/onnxio/internal/onnxpb"
	"github.com/sharpq/sharpq/ort"
)

func node(name, op, domain string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Domain: proto.String(domain), Input: in, Output: out, Attribute: attrs}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// refAttr is an attribute of a function body's node that takes the function's attribute ref.
func refAttr(name, ref string, typ onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), RefAttrName: proto.String(ref), Type: typ.Enum()}
}

func floats(name string, shape []int64, seed float64) *onnxpb.TensorProto {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(seed+float64(i)*0.77)) * 0.5
	}
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: shape, FloatData: v}
}

func valueInfo(name string, shape ...int64) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
}

func opset(domain string, v int64) *onnxpb.OperatorSetIdProto {
	return &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(v)}
}

// functionModel is a small CNN written as PyTorch's exporter writes modules before it
// optimises: a function ConvAct (Conv, then LeakyRelu) whose padding and slope are the
// caller's attributes (the slope with a default), a function Block that calls ConvAct twice
// and adds its input, and a graph that calls Block once and ConvAct once, without a name. A
// graph value is named as Block's first inner value would be, to test that inlined names stay
// unique.
func functionModel() *onnxpb.ModelProto {
	convAct := &onnxpb.FunctionProto{
		Name: proto.String("ConvAct"), Domain: proto.String("local"),
		Input: []string{"X", "W", "B"}, Output: []string{"Y"}, Attribute: []string{"pads"},
		AttributeProto: []*onnxpb.AttributeProto{floatAttr("slope", 0.2)},
		Node: []*onnxpb.NodeProto{
			node("conv", "Conv", "", []string{"X", "W", "B"}, []string{"t"}, refAttr("pads", "pads", onnxpb.AttributeProto_INTS)),
			node("act", "LeakyRelu", "", []string{"t"}, []string{"Y"}, refAttr("alpha", "slope", onnxpb.AttributeProto_FLOAT)),
		},
		OpsetImport: []*onnxpb.OperatorSetIdProto{opset("", 18)},
	}
	block := &onnxpb.FunctionProto{
		Name: proto.String("Block"), Domain: proto.String("local"),
		Input: []string{"X", "W1", "B1", "W2", "B2"}, Output: []string{"Y"},
		Node: []*onnxpb.NodeProto{
			node("c1", "ConvAct", "local", []string{"X", "W1", "B1"}, []string{"t"}, intsAttr("pads", 1, 1, 1, 1)),
			node("c2", "ConvAct", "local", []string{"t", "W2", "B2"}, []string{"u"}, intsAttr("pads", 1, 1, 1, 1), floatAttr("slope", 0.5)),
			node("add", "Add", "", []string{"u", "X"}, []string{"Y"}),
		},
		OpsetImport: []*onnxpb.OperatorSetIdProto{opset("", 18), opset("local", 1)},
	}
	g := &onnxpb.GraphProto{
		Name:  proto.String("functions"),
		Input: []*onnxpb.ValueInfoProto{valueInfo("x", 1, 2, 6, 6)},
		Initializer: []*onnxpb.TensorProto{
			floats("w1", []int64{2, 2, 3, 3}, 1), floats("b1", []int64{2}, 2),
			floats("w2", []int64{2, 2, 3, 3}, 3), floats("b2", []int64{2}, 4),
			floats("w3", []int64{3, 2, 3, 3}, 5), floats("b3", []int64{3}, 6),
		},
		Node: []*onnxpb.NodeProto{
			node("taken", "Identity", "", []string{"x"}, []string{"block/c1/t"}),
			node("block", "Block", "local", []string{"block/c1/t", "w1", "b1", "w2", "b2"}, []string{"h"}),
			node("", "ConvAct", "local", []string{"h", "w3", "b3"}, []string{"y"}, intsAttr("pads", 0, 0, 0, 0)),
		},
		Output: []*onnxpb.ValueInfoProto{valueInfo("y", 1, 3, 4, 4)},
	}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(9), Graph: g, Functions: []*onnxpb.FunctionProto{convAct, block},
		OpsetImport: []*onnxpb.OperatorSetIdProto{opset("", 18), opset("local", 1)}}
}

// runBytes runs a model of functionModel's interface in ONNX Runtime.
func runBytes(t *testing.T, rt *ort.Runtime, model []byte, x []float32) []float32 {
	t.Helper()
	s, err := rt.NewSession(model, []ort.TensorSpec{{Name: "x", DType: ort.Float32, Shape: []int64{1, 2, 6, 6}}},
		[]ort.TensorSpec{{Name: "y", DType: ort.Float32, Shape: []int64{1, 3, 4, 4}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copy(s.Float32("x"), x)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	return append([]float32{}, s.Float32("y")...)
}

// TestInlineFunctions reads a model that calls local functions, nested and with attribute
// references and defaults, and checks that the model sharpq writes back, with the calls
// inlined, computes what ONNX Runtime computes from the original's functions.
func TestInlineFunctions(t *testing.T) {
	rt := orttest.Runtime(t)
	original, err := proto.Marshal(functionModel())
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnxio.Decode(original, "")
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range m.Graph.Nodes {
		if n.Domain != "" {
			t.Errorf("node %s of domain %q left after inlining", n.Name, n.Domain)
		}
		ops[n.OpType]++
	}
	if ops["Conv"] != 3 || ops["LeakyRelu"] != 3 || ops["Add"] != 1 {
		t.Errorf("inlined operators %v, want 3 Conv, 3 LeakyRelu, 1 Add", ops)
	}
	for _, o := range m.Opsets {
		if o.Domain == "local" {
			t.Errorf("the functions' domain is still imported: %v", m.Opsets)
		}
	}
	if m.Graph.Producers()["block/c1/t_1"] == nil {
		t.Errorf("Block's first inner value did not get a name of its own beside the graph's block/c1/t")
	}
	written, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*6*6)
	for i := range x {
		x[i] = float32(math.Cos(float64(i) * 0.31))
	}
	want, got := runBytes(t, rt, original, x), runBytes(t, rt, written, x)
	var maxDiff float64
	for i := range want {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
	}
	if maxDiff > 1e-6 {
		t.Errorf("max |inlined − functions| = %.3g, want ≤ 1e-6", maxDiff)
	}
}

// TestInlineFunctionErrors checks that a function sharpq cannot inline exactly is refused,
// naming the function or the node.
func TestInlineFunctionErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(mp *onnxpb.ModelProto)
		want string
	}{
		{"recursion", func(mp *onnxpb.ModelProto) {
			f := mp.Functions[0]
			f.Node = append(f.Node, node("again", "ConvAct", "local", []string{"Y", "W", "B"}, []string{"z"}))
		}, "function local.ConvAct calls itself"},
		{"another opset", func(mp *onnxpb.ModelProto) {
			mp.Functions[0].OpsetImport = []*onnxpb.OperatorSetIdProto{opset("", 17)}
		}, "function local.ConvAct imports ONNX opset 17, the model 18"},
		{"a value from outside", func(mp *onnxpb.ModelProto) {
			mp.Functions[0].Node[1].Input[0] = "x"
		}, `node "act" reads "x", which is neither an input of the function nor made in it`},
		{"too many inputs", func(mp *onnxpb.ModelProto) {
			n := mp.Graph.Node[2]
			n.Input = append(n.Input, "w3")
		}, "passes 4 inputs to function local.ConvAct, which takes 3"},
		{"an undeclared attribute", func(mp *onnxpb.ModelProto) {
			mp.Functions[0].Node[0].Attribute = append(mp.Functions[0].Node[0].Attribute, refAttr("strides", "stride", onnxpb.AttributeProto_INTS))
		}, `refers to attribute "stride", which the function does not declare`},
		{"defined twice", func(mp *onnxpb.ModelProto) {
			mp.Functions = append(mp.Functions, mp.Functions[0])
		}, "function local.ConvAct is defined twice"},
		{"an expansion bomb", func(mp *onnxpb.ModelProto) {
			// F0 is one Identity; each F(i+1) calls F(i) twice: F40 would be 2^40 nodes.
			fs := []*onnxpb.FunctionProto{{Name: proto.String("F0"), Domain: proto.String("local"), Input: []string{"X"}, Output: []string{"Y"},
				Node: []*onnxpb.NodeProto{node("id", "Identity", "", []string{"X"}, []string{"Y"})}, OpsetImport: []*onnxpb.OperatorSetIdProto{opset("", 18)}}}
			for i := 1; i <= 40; i++ {
				prev := fmt.Sprintf("F%d", i-1)
				fs = append(fs, &onnxpb.FunctionProto{Name: proto.String(fmt.Sprintf("F%d", i)), Domain: proto.String("local"), Input: []string{"X"}, Output: []string{"Y"},
					Node:        []*onnxpb.NodeProto{node("a", prev, "local", []string{"X"}, []string{"t"}), node("b", prev, "local", []string{"t"}, []string{"Y"})},
					OpsetImport: []*onnxpb.OperatorSetIdProto{opset("", 18), opset("local", 1)}})
			}
			mp.Functions = fs
			mp.Graph.Node = append(mp.Graph.Node[:0:0], node("bomb", "F40", "local", []string{"x"}, []string{"y"}))
		}, "inlining the model's functions makes more than 262144 nodes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mp := functionModel()
			tc.edit(mp)
			data, err := proto.Marshal(mp)
			if err != nil {
				t.Fatal(err)
			}
			_, err = onnxio.Decode(data, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
