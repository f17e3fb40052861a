package ir_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/ir"
)

// operand is one input of the node under test: a runtime float32 graph input of a given
// shape, a constant initializer, or an absent optional input.
type operand struct {
	shape  []int64
	c      *ir.Tensor
	absent bool
}

func in(shape ...int64) operand { return operand{shape: shape} }

// ints is a 1-D int64 constant (axes, pads, starts, a Reshape target, …).
func ints(v ...int64) operand { return operand{c: ir.NewInt64("", []int64{int64(len(v))}, v)} }

// scalar is a 0-D float32 constant (Clip's min and max).
func scalar(v float32) operand { return operand{c: ir.NewFloat32("", []int64{}, []float32{v})} }

func none() operand { return operand{absent: true} }

// oneNodeModel builds a graph holding one node of type op whose inputs are ops, at the given
// default-domain opset; the node is named "n1" so that errors can be checked for its name.
func oneNodeModel(opset int64, op string, attrs []ir.Attr, ops []operand) *ir.Model {
	g := ir.NewGraph("one_node")
	n := &ir.Node{Name: "n1", OpType: op, Attrs: attrs, Outputs: []string{"y"}}
	for i, o := range ops {
		name := string(rune('a' + i))
		switch {
		case o.absent:
			name = ""
		case o.c != nil:
			c := o.c.Clone()
			c.Name = name
			g.AddInitializer(c)
		default:
			g.Inputs = append(g.Inputs, &ir.Value{Name: name, DType: ir.Float32, Shape: o.shape})
		}
		n.Inputs = append(n.Inputs, name)
	}
	g.AddNode(n)
	g.Outputs = []*ir.Value{{Name: "y"}}
	return &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: opset}}, Graph: g}
}

type shapeCase struct {
	name  string
	opset int64 // 0 means 13, the opset of the bundled models (testmodels.DefaultOpset)
	op    string
	attrs []ir.Attr
	ins   []operand
	want  []int64
	// wantErr lists substrings the error must contain; the node's name is always checked.
	wantErr []string
}

func runShapeCases(t *testing.T, cases []shapeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opset := tc.opset
			if opset == 0 {
				opset = 13
			}
			m := oneNodeModel(opset, tc.op, tc.attrs, tc.ins)
			err := ir.InferShapes(m)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("got shape %v, want an error", m.Graph.ValueInfo["y"].Shape)
				}
				for _, s := range append([]string{`node "n1" (` + tc.op + `)`}, tc.wantErr...) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := m.Graph.ValueInfo["y"]
			if got == nil || got.Shape == nil || !slices.Equal(got.Shape, tc.want) {
				t.Fatalf("output %+v, want shape %v", got, tc.want)
			}
		})
	}
}

// Expected sizes follow the ONNX operator specification; for Conv and pooling along one
// axis, out = floor((in + pad_begin + pad_end - (dilation*(k-1)+1)) / stride) + 1.
func TestInferConv(t *testing.T) {
	w := func(shape ...int64) operand {
		return operand{c: ir.NewFloat32("", shape, make([]float32, ir.NumElements(shape)))}
	}
	runShapeCases(t, []shapeCase{
		{name: "stride 2 pad 1", op: "Conv", ins: []operand{in(1, 3, 32, 32), w(8, 3, 3, 3)},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)},
			want:  []int64{1, 8, 16, 16}}, // (32+2-3)/2+1 = 16
		{name: "dilation 2", op: "Conv", ins: []operand{in(1, 3, 10, 10), w(4, 3, 3, 3)},
			attrs: []ir.Attr{ir.IntsAttr("dilations", 2, 2)},
			want:  []int64{1, 4, 6, 6}}, // effective kernel 2*2+1 = 5; 10-5+1 = 6
		{name: "asymmetric pads", op: "Conv", ins: []operand{in(1, 3, 5, 5), w(2, 3, 3, 3)},
			attrs: []ir.Attr{ir.IntsAttr("pads", 0, 1, 2, 3)},
			want:  []int64{1, 2, 5, 7}}, // H: 5+0+2-3+1 = 5; W: 5+1+3-3+1 = 7
		{name: "groups 4", op: "Conv", ins: []operand{in(2, 8, 7, 7), w(8, 2, 3, 3)},
			attrs: []ir.Attr{ir.IntAttr("group", 4)},
			want:  []int64{2, 8, 5, 5}}, // 8 input channels = 2 per group × 4 groups
		{name: "depthwise", op: "Conv", ins: []operand{in(1, 6, 5, 5), w(6, 1, 3, 3)},
			attrs: []ir.Attr{ir.IntAttr("group", 6), ir.IntsAttr("pads", 1, 1, 1, 1)},
			want:  []int64{1, 6, 5, 5}},
		{name: "1-D stride 3", op: "Conv", ins: []operand{in(1, 2, 10), w(3, 2, 4)},
			attrs: []ir.Attr{ir.IntsAttr("strides", 3)},
			want:  []int64{1, 3, 3}}, // (10-4)/3+1 = 3
		{name: "SAME_UPPER stride 2", op: "Conv", ins: []operand{in(1, 3, 7, 7), w(4, 3, 2, 2)},
			attrs: []ir.Attr{ir.StringAttr("auto_pad", "SAME_UPPER"), ir.IntsAttr("strides", 2, 2)},
			want:  []int64{1, 4, 4, 4}}, // SAME: ceil(7/2) = 4
		{name: "SAME_LOWER stride 1", op: "Conv", ins: []operand{in(1, 3, 6, 6), w(4, 3, 4, 4)},
			attrs: []ir.Attr{ir.StringAttr("auto_pad", "SAME_LOWER")},
			want:  []int64{1, 4, 6, 6}},
		{name: "VALID", op: "Conv", ins: []operand{in(1, 3, 7, 7), w(4, 3, 3, 3)},
			attrs: []ir.Attr{ir.StringAttr("auto_pad", "VALID"), ir.IntsAttr("strides", 2, 2)},
			want:  []int64{1, 4, 3, 3}}, // (7-3)/2+1 = 3
		{name: "dynamic batch", op: "Conv", ins: []operand{in(-1, 3, 8, 8), w(4, 3, 3, 3)},
			want: []int64{-1, 4, 6, 6}},
		{name: "channel mismatch", op: "Conv", ins: []operand{in(1, 3, 8, 8), w(4, 2, 3, 3)},
			wantErr: []string{"[4 2 3 3]", "[1 3 8 8]", "input 1"}},
		{name: "group does not divide filters", op: "Conv", ins: []operand{in(1, 4, 8, 8), w(3, 2, 3, 3)},
			attrs:   []ir.Attr{ir.IntAttr("group", 2)},
			wantErr: []string{"[3 2 3 3]", "group 2"}},
		{name: "rank mismatch", op: "Conv", ins: []operand{in(1, 3, 8, 8), w(4, 3, 3)},
			wantErr: []string{"[1 3 8 8]", "[4 3 3]"}},
		{name: "unknown auto_pad", op: "Conv", ins: []operand{in(1, 3, 8, 8), w(4, 3, 3, 3)},
			attrs:   []ir.Attr{ir.StringAttr("auto_pad", "SAME")},
			wantErr: []string{`auto_pad "SAME"`}},
		// ConvTranspose: out = stride*(in-1) + output_padding + dilation*(k-1)+1 - pads.
		{name: "transpose output_padding", op: "ConvTranspose", ins: []operand{in(1, 4, 5, 5), w(4, 2, 3, 3)},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1), ir.IntsAttr("output_padding", 1, 1)},
			want:  []int64{1, 2, 10, 10}}, // 2*4 + 1 + 3 - 2 = 10
		{name: "transpose groups", op: "ConvTranspose", ins: []operand{in(1, 4, 5, 5), w(4, 3, 3, 3)},
			attrs: []ir.Attr{ir.IntAttr("group", 2)},
			want:  []int64{1, 6, 7, 7}}, // 3 outputs per group × 2; 4 + 3 = 7
		{name: "transpose output_shape", op: "ConvTranspose", ins: []operand{in(1, 4, 5, 5), w(4, 2, 3, 3)},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("output_shape", 11, 11)},
			want:  []int64{1, 2, 11, 11}},
		{name: "transpose SAME_UPPER", op: "ConvTranspose", ins: []operand{in(1, 4, 5, 5), w(4, 2, 3, 3)},
			attrs: []ir.Attr{ir.StringAttr("auto_pad", "SAME_UPPER"), ir.IntsAttr("strides", 2, 2)},
			want:  []int64{1, 2, 10, 10}}, // SAME: in*stride
		{name: "transpose short output_padding", op: "ConvTranspose", ins: []operand{in(1, 4, 5, 5), w(4, 2, 3, 3)},
			attrs:   []ir.Attr{ir.IntsAttr("output_padding", 1)},
			wantErr: []string{"output_padding [1]"}},
		{name: "transpose short output_shape", op: "ConvTranspose", ins: []operand{in(1, 4, 5, 5), w(4, 2, 3, 3)},
			attrs:   []ir.Attr{ir.IntsAttr("output_shape", 9)},
			wantErr: []string{"output_shape [9]"}},
	})
}

func TestConvPadsAutoPad(t *testing.T) {
	// Input 7, kernel 2, stride 2: SAME gives ceil(7/2) = 4 outputs, which need
	// (4-1)*2 + 2 - 7 = 1 padding element; SAME_UPPER puts the odd one at the end.
	for _, tc := range []struct {
		autoPad string
		want    []int64
	}{
		{"SAME_UPPER", []int64{0, 0, 1, 1}},
		{"SAME_LOWER", []int64{1, 1, 0, 0}},
		{"VALID", []int64{0, 0, 0, 0}},
		{"NOTSET", []int64{0, 0, 0, 0}},
	} {
		t.Run(tc.autoPad, func(t *testing.T) {
			n := &ir.Node{Name: "c", OpType: "Conv", Attrs: []ir.Attr{ir.StringAttr("auto_pad", tc.autoPad), ir.IntsAttr("strides", 2, 2)}}
			got, err := ir.ConvPads(n, []int64{7, 7}, []int64{2, 2})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("pads %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInferPool(t *testing.T) {
	runShapeCases(t, []shapeCase{
		{name: "max floor", op: "MaxPool", ins: []operand{in(1, 1, 6, 6)},
			attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2)},
			want:  []int64{1, 1, 2, 2}}, // floor(3/2)+1 = 2
		{name: "max ceil_mode", op: "MaxPool", ins: []operand{in(1, 1, 6, 6)},
			attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2), ir.IntAttr("ceil_mode", 1)},
			want:  []int64{1, 1, 3, 3}}, // ceil(3/2)+1 = 3; the last window starts at 4 < 6
		{name: "max ceil_mode last window in padding", op: "MaxPool", ins: []operand{in(1, 1, 5, 5)},
			attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 2), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1), ir.IntAttr("ceil_mode", 1)},
			// ceil(5/2)+1 = 4, but window 4 would start at 6 = in + pad_begin, wholly in the
			// end padding, so PyTorch (and ONNX Runtime) drop it: 3.
			want: []int64{1, 1, 3, 3}},
		{name: "max dilations", op: "MaxPool", ins: []operand{in(1, 2, 9, 9)},
			attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("dilations", 2, 2)},
			want:  []int64{1, 2, 5, 5}}, // effective kernel 5: 9-5+1 = 5
		{name: "average pad 1", op: "AveragePool", ins: []operand{in(2, 3, 7, 7)},
			attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)},
			want:  []int64{2, 3, 4, 4}}, // (7+2-3)/2+1 = 4
		{name: "average SAME_UPPER", op: "AveragePool", ins: []operand{in(1, 3, 5, 5)},
			attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 2), ir.IntsAttr("strides", 2, 2), ir.StringAttr("auto_pad", "SAME_UPPER")},
			want:  []int64{1, 3, 3, 3}}, // ceil(5/2) = 3
		{name: "global average", op: "GlobalAveragePool", ins: []operand{in(2, 5, 7, 3)},
			want: []int64{2, 5, 1, 1}},
		{name: "kernel rank mismatch", op: "MaxPool", ins: []operand{in(1, 1, 6, 6)},
			attrs:   []ir.Attr{ir.IntsAttr("kernel_shape", 3)},
			wantErr: []string{"kernel_shape [3]", "[1 1 6 6]"}},
		{name: "global rank 1", op: "GlobalAveragePool", ins: []operand{in(5)},
			wantErr: []string{"[5]"}},
	})
}

func TestInferMatrix(t *testing.T) {
	runShapeCases(t, []shapeCase{
		{name: "gemm", op: "Gemm", ins: []operand{in(4, 8), in(8, 3)}, want: []int64{4, 3}},
		{name: "gemm transA", op: "Gemm", ins: []operand{in(8, 4), in(8, 3)},
			attrs: []ir.Attr{ir.IntAttr("transA", 1)}, want: []int64{4, 3}},
		{name: "gemm transB", op: "Gemm", ins: []operand{in(4, 8), in(3, 8), in(3)},
			attrs: []ir.Attr{ir.IntAttr("transB", 1)}, want: []int64{4, 3}},
		{name: "gemm both", op: "Gemm", ins: []operand{in(8, 4), in(3, 8)},
			attrs: []ir.Attr{ir.IntAttr("transA", 1), ir.IntAttr("transB", 1)}, want: []int64{4, 3}},
		{name: "gemm inner mismatch", op: "Gemm", ins: []operand{in(4, 8), in(7, 3)},
			wantErr: []string{"[7 3]", "[4 8]", "8 and 7"}},
		{name: "gemm rank 3", op: "Gemm", ins: []operand{in(2, 4, 8), in(8, 3)},
			wantErr: []string{"[2 4 8]"}},
		{name: "matmul batch broadcast", op: "MatMul", ins: []operand{in(2, 1, 4, 5), in(3, 5, 6)},
			want: []int64{2, 3, 4, 6}},
		{name: "matmul 1-D left", op: "MatMul", ins: []operand{in(5), in(2, 5, 6)}, want: []int64{2, 6}},
		{name: "matmul 1-D right", op: "MatMul", ins: []operand{in(2, 4, 5), in(5)}, want: []int64{2, 4}},
		{name: "matmul 1-D both", op: "MatMul", ins: []operand{in(5), in(5)}, want: []int64{}},
		{name: "matmul inner mismatch", op: "MatMul", ins: []operand{in(2, 3), in(4, 5)},
			wantErr: []string{"[4 5]", "[2 3]"}},
		{name: "matmul batch mismatch", op: "MatMul", ins: []operand{in(2, 3, 4), in(5, 4, 6)},
			wantErr: []string{"broadcast"}},
		{name: "add broadcast", op: "Add", ins: []operand{in(2, 1, 4), in(3, 1)}, want: []int64{2, 3, 4}},
		{name: "add mismatch", op: "Add", ins: []operand{in(2, 3), in(4)},
			wantErr: []string{"[2 3]", "[4]"}},
	})
}

func TestInferLayout(t *testing.T) {
	runShapeCases(t, []shapeCase{
		{name: "flatten default", op: "Flatten", ins: []operand{in(2, 3, 4, 5)}, want: []int64{2, 60}},
		{name: "flatten axis 0", op: "Flatten", attrs: []ir.Attr{ir.IntAttr("axis", 0)},
			ins: []operand{in(2, 3, 4, 5)}, want: []int64{1, 120}},
		{name: "flatten axis 2", op: "Flatten", attrs: []ir.Attr{ir.IntAttr("axis", 2)},
			ins: []operand{in(2, 3, 4, 5)}, want: []int64{6, 20}},
		{name: "flatten axis -1", op: "Flatten", attrs: []ir.Attr{ir.IntAttr("axis", -1)},
			ins: []operand{in(2, 3, 4, 5)}, want: []int64{24, 5}},
		{name: "flatten axis rank", op: "Flatten", attrs: []ir.Attr{ir.IntAttr("axis", 4)},
			ins: []operand{in(2, 3, 4, 5)}, want: []int64{120, 1}},
		{name: "flatten dynamic batch", op: "Flatten", ins: []operand{in(-1, 3, 4)}, want: []int64{-1, 12}},
		{name: "flatten axis 5", op: "Flatten", attrs: []ir.Attr{ir.IntAttr("axis", 5)},
			ins: []operand{in(2, 3, 4, 5)}, wantErr: []string{"axis 5", "[2 3 4 5]"}},

		{name: "reshape 0 -1", op: "Reshape", ins: []operand{in(2, 3, 4), ints(0, -1)}, want: []int64{2, 12}},
		{name: "reshape -1 first", op: "Reshape", ins: []operand{in(2, 3, 4), ints(-1, 4)}, want: []int64{6, 4}},
		{name: "reshape 0 0 -1", op: "Reshape", ins: []operand{in(2, 3, 4), ints(0, 0, -1)}, want: []int64{2, 3, 4}},
		// A dynamic dimension copied by 0 cancels out of the -1 computation, so the rest is
		// known (ONNX's shape inference does the same).
		{name: "reshape dynamic 0 -1", op: "Reshape", ins: []operand{in(-1, 3, 4), ints(0, -1)}, want: []int64{-1, 12}},
		{name: "reshape dynamic 0 0 -1", op: "Reshape", ins: []operand{in(-1, 3, 4), ints(0, 0, -1)}, want: []int64{-1, 3, 4}},
		{name: "reshape dynamic not copied", op: "Reshape", ins: []operand{in(-1, 3, 4), ints(-1, 6)}, want: []int64{-1, 6}},
		{name: "reshape runtime target of length 2", op: "Reshape", ins: []operand{in(2, 3, 4), in(2)}, want: []int64{-1, -1}},
		{name: "reshape two -1", op: "Reshape", ins: []operand{in(2, 3, 4), ints(-1, -1)},
			wantErr: []string{"more than one -1"}},
		{name: "reshape indivisible", op: "Reshape", ins: []operand{in(2, 3, 4), ints(5, -1)},
			wantErr: []string{"[2 3 4]", "[5 -1]"}},
		{name: "reshape count", op: "Reshape", ins: []operand{in(2, 3, 4), ints(5, 5)},
			wantErr: []string{"24 elements", "25 elements"}},

		{name: "transpose perm", op: "Transpose", attrs: []ir.Attr{ir.IntsAttr("perm", 0, 2, 3, 1)},
			ins: []operand{in(1, 2, 3, 4)}, want: []int64{1, 3, 4, 2}},
		{name: "transpose default reverses", op: "Transpose", ins: []operand{in(1, 2, 3, 4)}, want: []int64{4, 3, 2, 1}},
		{name: "transpose bad perm", op: "Transpose", attrs: []ir.Attr{ir.IntsAttr("perm", 0, 1)},
			ins: []operand{in(1, 2, 3)}, wantErr: []string{"perm [0 1]", "[1 2 3]"}},

		{name: "depth to space", op: "DepthToSpace", attrs: []ir.Attr{ir.IntAttr("blocksize", 2)},
			ins: []operand{in(2, 12, 3, 5)}, want: []int64{2, 3, 6, 10}},
		{name: "depth to space CRD", op: "DepthToSpace", attrs: []ir.Attr{ir.IntAttr("blocksize", 3), ir.StringAttr("mode", "CRD")},
			ins: []operand{in(1, 9, 2, 2)}, want: []int64{1, 1, 6, 6}},
		{name: "depth to space indivisible", op: "DepthToSpace", attrs: []ir.Attr{ir.IntAttr("blocksize", 2)},
			ins: []operand{in(2, 6, 3, 5)}, wantErr: []string{"blocksize 2", "[2 6 3 5]"}},
		{name: "space to depth", op: "SpaceToDepth", attrs: []ir.Attr{ir.IntAttr("blocksize", 2)},
			ins: []operand{in(2, 3, 6, 10)}, want: []int64{2, 12, 3, 5}},
		{name: "space to depth indivisible", op: "SpaceToDepth", attrs: []ir.Attr{ir.IntAttr("blocksize", 4)},
			ins: []operand{in(2, 3, 6, 8)}, wantErr: []string{"blocksize 4", "[2 3 6 8]"}},

		{name: "concat axis 1", op: "Concat", attrs: []ir.Attr{ir.IntAttr("axis", 1)},
			ins: []operand{in(2, 3, 4), in(2, 5, 4), in(2, 1, 4)}, want: []int64{2, 9, 4}},
		{name: "concat axis -1", op: "Concat", attrs: []ir.Attr{ir.IntAttr("axis", -1)},
			ins: []operand{in(2, 3, 4), in(2, 3, 6)}, want: []int64{2, 3, 10}},
		{name: "concat mismatch", op: "Concat", attrs: []ir.Attr{ir.IntAttr("axis", 1)},
			ins: []operand{in(2, 3, 4), in(2, 5, 6)}, wantErr: []string{"input 1", "[2 5 6]"}},
		{name: "concat rank", op: "Concat", attrs: []ir.Attr{ir.IntAttr("axis", 0)},
			ins: []operand{in(2, 3), in(2, 3, 1)}, wantErr: []string{"[2 3 1]"}},

		{name: "pad input form", op: "Pad", ins: []operand{in(1, 3, 4, 4), ints(0, 0, 1, 2, 0, 0, 3, 4)},
			want: []int64{1, 3, 8, 10}}, // H: 4+1+3, W: 4+2+4
		{name: "pad attribute form", opset: 10, op: "Pad", ins: []operand{in(1, 3, 4, 4)},
			attrs: []ir.Attr{ir.IntsAttr("pads", 0, 0, 1, 1, 0, 0, 1, 1)}, want: []int64{1, 3, 6, 6}},
		{name: "pad axes input", opset: 18, op: "Pad",
			ins:  []operand{in(1, 3, 4, 4), ints(1, 2, 3, 4), none(), ints(2, -1)},
			want: []int64{1, 3, 8, 10}}, // pads [h_begin w_begin h_end w_end]
		{name: "pad wrong length", op: "Pad", ins: []operand{in(1, 3, 4, 4), ints(1, 1)},
			wantErr: []string{"pads [1 1]"}},
	})
}

func TestInferSlice(t *testing.T) {
	const (
		// PyTorch exports x[::-1]-style slices with these ends (INT64_MIN / INT64_MAX).
		minInt = math.MinInt64
		maxInt = math.MaxInt64
	)
	x := in(10, 20)
	runShapeCases(t, []shapeCase{
		{name: "basic", op: "Slice", ins: []operand{x, ints(2), ints(5), ints(1)}, want: []int64{10, 3}},            // 5-2
		{name: "clamp end", op: "Slice", ins: []operand{x, ints(2), ints(1000)}, want: []int64{8, 20}},              // end clamps to 10: 10-2
		{name: "INT64_MAX end", op: "Slice", ins: []operand{x, ints(-3), ints(maxInt)}, want: []int64{3, 20}},       // 7…9
		{name: "step 2", op: "Slice", ins: []operand{x, ints(1), ints(10), ints(0), ints(2)}, want: []int64{5, 20}}, // 1, 3, 5, 7, 9
		{name: "reverse all", op: "Slice", ins: []operand{x, ints(-1), ints(minInt), ints(0), ints(-1)},
			want: []int64{10, 20}},
		{name: "step -3", op: "Slice", ins: []operand{x, ints(8), ints(1), ints(0), ints(-3)},
			want: []int64{3, 20}}, // indices 8, 5, 2
		{name: "negative step start past end", op: "Slice", ins: []operand{x, ints(100), ints(0), ints(0), ints(-1)},
			want: []int64{9, 20}}, // start clamps to 9: indices 9…1
		{name: "negative step start before 0", op: "Slice", ins: []operand{x, ints(-100), ints(-1000), ints(0), ints(-1)},
			want: []int64{1, 20}}, // start clamps to 0, end to -1: index 0 only
		{name: "empty", op: "Slice", ins: []operand{x, ints(5), ints(2), ints(-1)}, want: []int64{10, 0}}, // start after end
		{name: "huge step", op: "Slice", ins: []operand{x, ints(0), ints(maxInt), ints(1), ints(maxInt)},
			want: []int64{10, 1}},
		{name: "huge negative step", op: "Slice", ins: []operand{x, ints(-1), ints(minInt), ints(1), ints(minInt)},
			want: []int64{10, 1}},
		{name: "two axes", op: "Slice", ins: []operand{x, ints(1, 0), ints(3, -5), ints(0, 1)}, want: []int64{2, 15}}, // 3-1; -5 is 15
		{name: "attribute form", opset: 9, op: "Slice", ins: []operand{x},
			attrs: []ir.Attr{ir.IntsAttr("starts", 1), ir.IntsAttr("ends", -1), ir.IntsAttr("axes", 1)},
			want:  []int64{10, 18}}, // 1…18
		{name: "step 0", op: "Slice", ins: []operand{x, ints(0), ints(5), ints(0), ints(0)},
			wantErr: []string{"step 0"}},
		{name: "axis out of range", op: "Slice", ins: []operand{x, ints(0), ints(5), ints(2)},
			wantErr: []string{"axis 2"}},
		{name: "non-constant starts", op: "Slice", ins: []operand{x, in(1), ints(5)}, want: []int64{-1, -1}},
	})
}

func TestInferAxesForms(t *testing.T) {
	runShapeCases(t, []shapeCase{
		{name: "unsqueeze attr opset 11", opset: 11, op: "Unsqueeze", attrs: []ir.Attr{ir.IntsAttr("axes", 0, 3)},
			ins: []operand{in(3, 4)}, want: []int64{1, 3, 4, 1}},
		{name: "unsqueeze input opset 13", opset: 13, op: "Unsqueeze", ins: []operand{in(3, 4), ints(0, 3)},
			want: []int64{1, 3, 4, 1}},
		{name: "unsqueeze negative axis", opset: 13, op: "Unsqueeze", ins: []operand{in(3, 4), ints(-1)},
			want: []int64{3, 4, 1}},
		{name: "unsqueeze duplicate axes", opset: 13, op: "Unsqueeze", ins: []operand{in(3, 4), ints(0, 0)},
			wantErr: []string{"[0 0]"}},
		{name: "unsqueeze duplicate after normalising", opset: 11, op: "Unsqueeze", attrs: []ir.Attr{ir.IntsAttr("axes", 3, -1)},
			ins: []operand{in(3, 4)}, wantErr: []string{"[3 -1]"}}, // output rank 4: -1 is axis 3
		{name: "unsqueeze axes not constant", opset: 13, op: "Unsqueeze", ins: []operand{in(3, 4), in(1)},
			wantErr: []string{"constant"}},
		{name: "squeeze attr opset 11", opset: 11, op: "Squeeze", attrs: []ir.Attr{ir.IntsAttr("axes", 1)},
			ins: []operand{in(3, 1, 4, 1)}, want: []int64{3, 4, 1}},
		{name: "squeeze all ones opset 11", opset: 11, op: "Squeeze", ins: []operand{in(3, 1, 4, 1)},
			want: []int64{3, 4}},
		{name: "squeeze input opset 13", opset: 13, op: "Squeeze", ins: []operand{in(3, 1, 4, 1), ints(-1)},
			want: []int64{3, 1, 4}},
		{name: "squeeze no axes opset 13", opset: 13, op: "Squeeze", ins: []operand{in(3, 1, 4, 1)},
			want: []int64{3, 4}},

		{name: "reducemean attr opset 13", opset: 13, op: "ReduceMean", attrs: []ir.Attr{ir.IntsAttr("axes", 2, 3)},
			ins: []operand{in(2, 3, 4, 5)}, want: []int64{2, 3, 1, 1}},
		{name: "reducemean attr keepdims 0", opset: 13, op: "ReduceMean",
			attrs: []ir.Attr{ir.IntsAttr("axes", -1), ir.IntAttr("keepdims", 0)},
			ins:   []operand{in(2, 3, 4, 5)}, want: []int64{2, 3, 4}},
		{name: "reducemean all", opset: 13, op: "ReduceMean", ins: []operand{in(2, 3, 4)}, want: []int64{1, 1, 1}},
		{name: "reducemean input opset 18", opset: 18, op: "ReduceMean", ins: []operand{in(2, 3, 4, 5), ints(1)},
			attrs: []ir.Attr{ir.IntAttr("keepdims", 0)}, want: []int64{2, 4, 5}},
		{name: "reducemean noop opset 18", opset: 18, op: "ReduceMean", ins: []operand{in(2, 3, 4)},
			attrs: []ir.Attr{ir.IntAttr("noop_with_empty_axes", 1)}, want: []int64{2, 3, 4}},
		{name: "reducesum attr opset 11", opset: 11, op: "ReduceSum", attrs: []ir.Attr{ir.IntsAttr("axes", 0), ir.IntAttr("keepdims", 0)},
			ins: []operand{in(2, 3, 4)}, want: []int64{3, 4}},
		{name: "reducesum input opset 13", opset: 13, op: "ReduceSum", ins: []operand{in(2, 3, 4), ints(0, 2)},
			want: []int64{1, 3, 1}},
		{name: "reducesum empty axes input opset 13", opset: 13, op: "ReduceSum", ins: []operand{in(2, 3, 4), none()},
			attrs: []ir.Attr{ir.IntAttr("keepdims", 0)}, want: []int64{}},
		{name: "reducesum axis out of range", opset: 13, op: "ReduceSum", ins: []operand{in(2, 3, 4), ints(3)},
			wantErr: []string{"axis 3"}},

		{name: "clip attribute form", opset: 6, op: "Clip", ins: []operand{in(2, 3)},
			attrs: []ir.Attr{ir.FloatAttr("min", 0), ir.FloatAttr("max", 6)}, want: []int64{2, 3}},
		{name: "clip input form", opset: 11, op: "Clip", ins: []operand{in(2, 3), scalar(0), scalar(6)},
			want: []int64{2, 3}},
		{name: "clip max only", opset: 13, op: "Clip", ins: []operand{in(2, 3), none(), scalar(6)},
			want: []int64{2, 3}},
	})
}

// TestOpsetForms builds, for every default-domain opset from 11 to 21, a small graph using
// each operator in the form that opset defines (attributes before the opset that moved them
// to inputs, inputs from then on) and checks that all shapes infer.
// TestSplitShapes checks Split's output shapes in each of its forms, and the errors naming
// the node when the sizes do not fit the axis.
func TestSplitShapes(t *testing.T) {
	tests := []struct {
		name    string
		opset   int64
		outputs int
		attrs   []ir.Attr
		sizes   []int64 // the split input (opset 13 on), nil for none
		want    [][]int64
		wantErr []string
	}{
		{name: "sizes input", opset: 13, outputs: 2, attrs: []ir.Attr{ir.IntAttr("axis", 1)}, sizes: []int64{2, 4},
			want: [][]int64{{2, 2, 5}, {2, 4, 5}}},
		{name: "sizes attribute", opset: 11, outputs: 3, attrs: []ir.Attr{ir.IntAttr("axis", -1), ir.IntsAttr("split", 1, 1, 3)},
			want: [][]int64{{2, 6, 1}, {2, 6, 1}, {2, 6, 3}}},
		{name: "equal parts", opset: 13, outputs: 3, attrs: []ir.Attr{ir.IntAttr("axis", 1)},
			want: [][]int64{{2, 2, 5}, {2, 2, 5}, {2, 2, 5}}},
		{name: "uneven parts, opset 18", opset: 18, outputs: 2, attrs: []ir.Attr{ir.IntAttr("axis", 2), ir.IntAttr("num_outputs", 2)},
			want: [][]int64{{2, 6, 3}, {2, 6, 2}}},
		{name: "uneven parts before 18", opset: 13, outputs: 4, attrs: []ir.Attr{ir.IntAttr("axis", 1)},
			wantErr: []string{"n1", "does not split evenly into 4"}},
		{name: "sizes do not add up", opset: 13, outputs: 2, attrs: []ir.Attr{ir.IntAttr("axis", 1)}, sizes: []int64{2, 3},
			wantErr: []string{"n1", "add up to 5", "6"}},
		{name: "sizes for other outputs", opset: 13, outputs: 3, attrs: []ir.Attr{ir.IntAttr("axis", 1)}, sizes: []int64{2, 4},
			wantErr: []string{"n1", "2 split sizes", "3 outputs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := ir.NewGraph("split")
			g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{2, 6, 5}}}
			n := &ir.Node{Name: "n1", OpType: "Split", Inputs: []string{"x"}, Attrs: tc.attrs}
			if tc.sizes != nil {
				g.AddInitializer(ir.NewInt64("sizes", []int64{int64(len(tc.sizes))}, tc.sizes))
				n.Inputs = append(n.Inputs, "sizes")
			}
			for i := range tc.outputs {
				n.Outputs = append(n.Outputs, fmt.Sprintf("y%d", i))
			}
			g.AddNode(n)
			m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: tc.opset}}, Graph: g}
			err := ir.InferShapes(m)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want one mentioning %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if got := g.ValueInfo[n.Outputs[i]].Shape; !slices.Equal(got, w) {
					t.Errorf("output %d: shape %v, want %v", i, got, w)
				}
			}
		})
	}
}

func TestOpsetForms(t *testing.T) {
	// Opsets at which ONNX turned attributes into inputs.
	const (
		unsqueezeInput = 13 // Unsqueeze, Squeeze, ReduceSum axes
		reduceInput    = 18 // ReduceMean axes
	)
	for opset := int64(11); opset <= 21; opset++ {
		t.Run(fmt.Sprintf("opset%d", opset), func(t *testing.T) {
			g := ir.NewGraph("forms")
			g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{2, 3, 4}}}
			add := func(op string, ins []string, attrs ...ir.Attr) {
				out := "y" + string(rune('a'+len(g.Nodes)))
				g.AddNode(&ir.Node{Name: op, OpType: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
			}
			g.AddInitializer(ir.NewFloat32("lo", []int64{}, []float32{0}))
			g.AddInitializer(ir.NewFloat32("hi", []int64{}, []float32{6}))
			g.AddInitializer(ir.NewInt64("axes0", []int64{1}, []int64{0}))
			g.AddInitializer(ir.NewInt64("axes2", []int64{1}, []int64{2}))
			add("Clip", []string{"x"}, ir.FloatAttr("min", 0), ir.FloatAttr("max", 6)) // ya: opset 6 style
			add("Clip", []string{"ya", "lo", "hi"})                                    // yb: opset 11 style
			if opset < unsqueezeInput {
				add("Unsqueeze", []string{"yb"}, ir.IntsAttr("axes", 0)) // yc
				add("Squeeze", []string{"yc"}, ir.IntsAttr("axes", 0))   // yd
				add("ReduceSum", []string{"yd"}, ir.IntsAttr("axes", 2)) // ye
			} else {
				add("Unsqueeze", []string{"yb", "axes0"})
				add("Squeeze", []string{"yc", "axes0"})
				add("ReduceSum", []string{"yd", "axes2"})
			}
			if opset < reduceInput {
				add("ReduceMean", []string{"ye"}, ir.IntsAttr("axes", 0), ir.IntAttr("keepdims", 0)) // yf
			} else {
				add("ReduceMean", []string{"ye", "axes0"}, ir.IntAttr("keepdims", 0))
			}
			g.Outputs = []*ir.Value{{Name: "yf", DType: ir.Float32}}
			m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: opset}}, Graph: g}
			if err := ir.InferShapes(m); err != nil {
				t.Fatal(err)
			}
			want := map[string][]int64{
				"ya": {2, 3, 4}, "yb": {2, 3, 4}, "yc": {1, 2, 3, 4}, "yd": {2, 3, 4},
				"ye": {2, 3, 1}, "yf": {3, 1},
			}
			for name, w := range want {
				if got := g.ValueInfo[name]; got == nil || !slices.Equal(got.Shape, w) {
					t.Errorf("%s: %+v, want shape %v", name, got, w)
				}
			}
		})
	}
}

// TestInferConstantNodeInputs: shape inputs that come from Constant nodes (PyTorch exports
// without constant folding write Unsqueeze axes and Reshape targets this way) infer before
// Canonicalize has turned the Constant nodes into initializers.
func TestInferConstantNodeInputs(t *testing.T) {
	g := ir.NewGraph("constant_inputs")
	g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{2, 6}}}
	constant := func(out string, v ...int64) *ir.Node {
		return &ir.Node{Name: out, OpType: "Constant", Outputs: []string{out},
			Attrs: []ir.Attr{ir.TensorAttr("value", ir.NewInt64("", []int64{int64(len(v))}, v))}}
	}
	g.AddNode(constant("axes", 1))
	g.AddNode(&ir.Node{Name: "unsq", OpType: "Unsqueeze", Inputs: []string{"x", "axes"}, Outputs: []string{"u"}})
	g.AddNode(constant("target", 2, 3, 2))
	g.AddNode(&ir.Node{Name: "reshape", OpType: "Reshape", Inputs: []string{"u", "target"}, Outputs: []string{"y"}})
	g.Outputs = []*ir.Value{{Name: "y"}}
	m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
	if err := ir.InferShapes(m); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]int64{"u": {2, 1, 6}, "y": {2, 3, 2}} {
		if got := g.ValueInfo[name].Shape; !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}

func TestInferLayerNorm(t *testing.T) {
	runShapeCases(t, []shapeCase{
		{name: "last axis", opset: 17, op: "LayerNormalization", ins: []operand{in(2, 7, 7, 96), in(96), in(96)}, want: []int64{2, 7, 7, 96}},
		{name: "axis 1, no bias", opset: 17, op: "LayerNormalization", attrs: []ir.Attr{ir.IntAttr("axis", 1)},
			ins: []operand{in(-1, 3, 4), in(3, 4)}, want: []int64{-1, 3, 4}},
		{name: "axis out of range", opset: 17, op: "LayerNormalization", attrs: []ir.Attr{ir.IntAttr("axis", -4)},
			ins: []operand{in(2, 3, 4), in(4)}, wantErr: []string{"axis -4 out of range for rank 3"}},
	})
	// The training outputs: the input's shape with the normalised axes 1, in the stash type.
	m := oneNodeModel(17, "LayerNormalization", []ir.Attr{ir.IntAttr("axis", -2)}, []operand{in(2, 5, 3, 4), in(3, 4)})
	m.Graph.Nodes[0].Outputs = []string{"y", "mean", "inv_std"}
	if err := ir.InferShapes(m); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mean", "inv_std"} {
		if v := m.Graph.ValueInfo[name]; v == nil || v.DType != ir.Float32 || !slices.Equal(v.Shape, []int64{2, 5, 1, 1}) {
			t.Errorf("%s: %+v, want float32 [2 5 1 1]", name, v)
		}
	}
}
