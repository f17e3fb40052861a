package convert_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/inspect"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// FuzzModelChecks feeds arbitrary ONNX bytes through everything convert, quantize and inspect
// do to a model before they load ONNX Runtime: decoding, the option and model checks
// (Options.Validate builds the model's gradient graph), shape inference with constant
// folding, the block partition and the memory estimates. A model may be refused with an
// error; nothing may panic or hang. onnxio's FuzzDecode covers the decoder alone.
func FuzzModelChecks(f *testing.F) {
	seeds := []*ir.Model{
		testmodels.TinyResNet(1),
		testmodels.AsOldExport(testmodels.TinyResNet(2), 9),
		testmodels.WithNHWCInput(testmodels.TinyResNet(3)),
		testmodels.WithPadNodes(testmodels.TinyResNet(4)),
		testmodels.WithShuffleUnit(testmodels.TinyResNet(5)),
		testmodels.WithLinearAs(testmodels.TinyResNet(6), "matmul"),
		testmodels.WithPreprocessing(testmodels.TinyResNet(7), 0.5, 0.25),
		testmodels.DynamicSpatial(8),
		testmodels.WithLayerNorm(testmodels.TinyResNet(9)),
		testmodels.AsFloat16(testmodels.TinyResNet(10), true),
	}
	for _, m := range seeds {
		data, err := onnxio.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// The bundled ResNet-20 is too big to mutate usefully whole; its opening is a real
	// PyTorch export's header and first nodes.
	if real, err := os.ReadFile(filepath.Join("..", "testmodels", "resnet20_fmnist.onnx")); err == nil {
		f.Add(real[:4096])
	}

	f.Fuzz(func(t *testing.T, data []byte) { checkModel(data) })
}

// checkModel runs the checks convert, quantize and inspect make before ONNX Runtime loads on
// the encoded model data, ignoring their errors: what is under test is that they return.
func checkModel(data []byte) {
	m, err := onnxio.Decode(data, "")
	if err != nil {
		return
	}
	inspect.Model(m)
	quantizer.EstimateReconMemory(m)
	o := convert.Options{Model: m, Bits: quantizer.DefaultBits(4, 4)}
	if o.Validate() != nil {
		return
	}
	convert.EstimateMemory(m, convert.Fast(), convert.SADAG, 1)
}

// FuzzModelEdits makes one small edit to a valid model, of the kind a buggy exporter or a
// hand-edited file makes (an attribute's values or type, a node's operator, an input
// rewired or dropped, a declared dimension, an integer input's value, the node order), then
// runs the checks FuzzModelChecks runs. Byte-level mutations rarely get through the
// decoder; these reach shape inference, constant folding and the partition with well-formed
// but inconsistent graphs.
func FuzzModelEdits(f *testing.F) {
	models := []func() *ir.Model{
		func() *ir.Model { return testmodels.TinyResNet(1) },
		func() *ir.Model { return testmodels.AsOldExport(testmodels.TinyResNet(2), 9) },
		func() *ir.Model { return testmodels.WithShuffleUnit(testmodels.TinyResNet(3)) },
		func() *ir.Model { return testmodels.WithPadNodes(testmodels.TinyResNet(4)) },
		func() *ir.Model { return testmodels.WithMaxPool(testmodels.TinyResNet(5)) },
		func() *ir.Model { return testmodels.WithLinearAs(testmodels.TinyResNet(6), "matmul") },
	}
	for m := range len(models) {
		for edit := range 8 {
			f.Add(uint8(m), uint8(3*edit+1), uint8(edit), int64(2), int64(-1))
		}
	}
	attrs := []string{"strides", "pads", "kernel_shape", "dilations", "group", "axis", "axes", "perm", "transB", "auto_pad", "keepdims", "epsilon"}
	ops := []string{"Conv", "Relu", "Add", "Gemm", "MatMul", "Flatten", "Reshape", "Transpose", "GlobalAveragePool", "MaxPool", "BatchNormalization", "Concat", "Split", "Slice", "Pad", "ReduceMean", "Identity", "Sigmoid", "Mul", "Clip"}

	f.Fuzz(func(t *testing.T, model, node, edit uint8, a, b int64) {
		m := models[int(model)%len(models)]()
		g := m.Graph
		n := g.Nodes[int(node)%len(g.Nodes)]
		small := func(v int64) int64 { return v%9 - 2 } // −10 … 6: zero, negatives, too large
		switch edit % 8 {
		case 0: // one int attribute
			n.SetAttr(ir.IntAttr(attrs[int(uint64(a)%uint64(len(attrs)))], small(b)))
		case 1: // an ints attribute of 1 to 4 values
			vals := make([]int64, 1+int(uint64(b)%4))
			for i := range vals {
				vals[i] = small(b >> (8 * i))
			}
			n.SetAttr(ir.IntsAttr(attrs[int(uint64(a)%uint64(len(attrs)))], vals...))
		case 2: // another operator
			n.OpType = ops[int(uint64(a)%uint64(len(ops)))]
		case 3: // an input read from another value (or dropped)
			if len(n.Inputs) > 0 {
				i := int(uint64(a) % uint64(len(n.Inputs)))
				other := g.Nodes[int(uint64(b)%uint64(len(g.Nodes)))]
				if b < 0 {
					n.Inputs = append(n.Inputs[:i], n.Inputs[i+1:]...)
				} else {
					n.Inputs[i] = other.Outputs[0]
				}
			}
		case 4: // a declared input dimension
			in := g.Inputs[0]
			in.Shape[int(uint64(a)%uint64(len(in.Shape)))] = small(b) * 7
		case 5: // an initializer's values taken as another shape
			for _, init := range g.Initializers {
				if slices.Contains(n.Inputs, init.Name) && len(init.Shape) > 1 {
					init.Shape[0], init.Shape[len(init.Shape)-1] = init.Shape[len(init.Shape)-1], init.Shape[0]
					break
				}
			}
		case 6: // one value of an integer input (a shape, pads, axes, starts, steps)
			for _, init := range g.Initializers {
				if slices.Contains(n.Inputs, init.Name) && init.DType == ir.Int64 && len(init.I64) > 0 {
					init.I64[int(uint64(a)%uint64(len(init.I64)))] = small(b)
					break
				}
			}
		case 7: // a node moved before the one it follows
			if i := slices.Index(g.Nodes, n); i > 0 {
				g.Nodes[i-1], g.Nodes[i] = g.Nodes[i], g.Nodes[i-1]
			}
		}
		data, err := onnxio.Encode(m)
		if err != nil {
			return
		}
		checkModel(data)
	})
}
