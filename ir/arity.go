package ir

import (
	"fmt"

	"github.com/sharpq/sharpq/internal/english"
)

// arity is how many inputs and outputs an operator takes, over the opsets sharpq reads (7 to
// 26): at least minIn and at most maxIn inputs (many, −1, for the variadic ones), the first
// minIn of them present, and one to maxOut outputs, the first present. Shape rules and
// gradient rules index a node's inputs and outputs by position, so a node with too few is
// refused here, by name, rather than failing deep inside them.
type arity struct{ minIn, maxIn, maxOut int }

const many = -1

// arities lists every operator of opTable, by domain and op type.
var arities = map[string]map[string]arity{
	"": {
		"Relu": {1, 1, 1}, "LeakyRelu": {1, 1, 1}, "Sigmoid": {1, 1, 1}, "HardSigmoid": {1, 1, 1},
		"HardSwish": {1, 1, 1}, "Tanh": {1, 1, 1}, "Sqrt": {1, 1, 1}, "Exp": {1, 1, 1}, "Log": {1, 1, 1},
		"Neg": {1, 1, 1}, "Abs": {1, 1, 1}, "Floor": {1, 1, 1}, "Ceil": {1, 1, 1}, "Round": {1, 1, 1},
		"Reciprocal": {1, 1, 1}, "Sign": {1, 1, 1}, "Erf": {1, 1, 1}, "Identity": {1, 1, 1},
		"Softmax": {1, 1, 1}, "LogSoftmax": {1, 1, 1}, "Elu": {1, 1, 1}, "Selu": {1, 1, 1},
		"Softplus": {1, 1, 1}, "Mish": {1, 1, 1}, "Gelu": {1, 1, 1}, "Swish": {1, 1, 1}, "Not": {1, 1, 1}, "Cast": {1, 1, 1},
		"Clip":  {1, 3, 1}, // min and max are inputs from opset 11, attributes before
		"PRelu": {2, 2, 1},
		// Opsets before 14 list the training outputs (running mean and variance, saved
		// mean and variance).
		"BatchNormalization":    {5, 5, 5},
		"LayerNormalization":    {2, 3, 3},
		"InstanceNormalization": {3, 3, 1}, "GroupNormalization": {3, 3, 1},
		"Dropout": {1, 3, 2},
		"Add":     {2, 2, 1}, "Sub": {2, 2, 1}, "Mul": {2, 2, 1}, "Div": {2, 2, 1}, "Pow": {2, 2, 1},
		"Max": {1, many, 1}, "Min": {1, many, 1}, "Sum": {1, many, 1},
		"Equal": {2, 2, 1}, "Greater": {2, 2, 1}, "Less": {2, 2, 1}, "GreaterOrEqual": {2, 2, 1},
		"LessOrEqual": {2, 2, 1}, "And": {2, 2, 1}, "Or": {2, 2, 1},
		"Where": {3, 3, 1},
		"Conv":  {2, 3, 1}, "ConvTranspose": {2, 3, 1},
		"MaxPool": {1, 1, 2}, "AveragePool": {1, 1, 1},
		"GlobalAveragePool": {1, 1, 1}, "GlobalMaxPool": {1, 1, 1},
		"Gemm": {2, 3, 1}, "MatMul": {2, 2, 1},
		"Flatten": {1, 1, 1}, "Reshape": {2, 2, 1}, "Transpose": {1, 1, 1},
		"DepthToSpace": {1, 1, 1}, "SpaceToDepth": {1, 1, 1},
		"Concat": {1, many, 1},
		"Split":  {1, 2, many},
		"Pad":    {1, 4, 1}, // pads are an attribute before opset 11, an input after
		"Slice":  {1, 5, 1}, // starts, ends, axes and steps likewise from opset 10
		"Shape":  {1, 1, 1}, "Gather": {2, 2, 1},
		"Unsqueeze": {1, 2, 1}, "Squeeze": {1, 2, 1}, // axes an input from opset 13
		"Constant": {0, 0, 1}, "ConstantOfShape": {1, 1, 1}, "Expand": {2, 2, 1},
		"ReduceMean": {1, 2, 1}, "ReduceSum": {1, 2, 1}, "ReduceMax": {1, 2, 1},
		"ReduceMin": {1, 2, 1}, "ReduceSumSquare": {1, 2, 1}, "ReduceL2": {1, 2, 1},
		"QuantizeLinear": {2, 3, 1}, "DequantizeLinear": {2, 3, 1},
		"MaxUnpool":       {2, 3, 1},
		"ScatterElements": {3, 3, 1}, "GatherElements": {2, 2, 1},
		"Tile":          {2, 2, 1},
		"RandomUniform": {0, 0, 1}, "RandomNormal": {0, 0, 1},
	},
	"com.microsoft": {"FusedMatMul": {2, 2, 1}},
	"sharpq":        {"RoundSTE": {1, 1, 1}, "FloorSTE": {1, 1, 1}},
}

// attrTypes is the type ONNX gives each attribute name that sharpq's operators use; the
// names listed mean the same kind of value in every operator that has them. The accessors read the
// field of the type asked for, so a file that gives strides as one INT instead of INTS would
// otherwise read as if it had none here and as an empty list there.
var attrTypes = map[string]AttrType{
	"strides": AttrInts, "pads": AttrInts, "dilations": AttrInts, "kernel_shape": AttrInts,
	"output_padding": AttrInts, "output_shape": AttrInts, "perm": AttrInts, "axes": AttrInts,
	"split": AttrInts, "shape": AttrInts,
	"group": AttrInt, "axis": AttrInt, "transA": AttrInt, "transB": AttrInt, "keepdims": AttrInt,
	"ceil_mode": AttrInt, "count_include_pad": AttrInt, "storage_order": AttrInt, "to": AttrInt,
	"blocksize": AttrInt, "spatial": AttrInt, "training_mode": AttrInt, "allowzero": AttrInt,
	"noop_with_empty_axes": AttrInt, "num_outputs": AttrInt, "stash_type": AttrInt,
	"saturate": AttrInt, "output_dtype": AttrInt, "block_size": AttrInt, "dtype": AttrInt,
	"epsilon": AttrFloat, "momentum": AttrFloat, "alpha": AttrFloat, "beta": AttrFloat,
	"gamma": AttrFloat, "min": AttrFloat, "max": AttrFloat, "ratio": AttrFloat,
	"mean": AttrFloat, "scale": AttrFloat, "low": AttrFloat, "high": AttrFloat, "seed": AttrFloat,
	"auto_pad": AttrString, "mode": AttrString, "approximate": AttrString, "reduction": AttrString,
	// Not "value": a TENSOR in Constant and ConstantOfShape, Pad's FLOAT before opset 11.
}

// attrTypeNames names the attribute types as ONNX spells them.
var attrTypeNames = map[AttrType]string{AttrFloat: "FLOAT", AttrInt: "INT", AttrString: "STRING",
	AttrTensor: "TENSOR", AttrFloats: "FLOATS", AttrInts: "INTS", AttrStrings: "STRINGS"}

// String names the attribute type as ONNX spells it (INTS, FLOAT, …).
func (t AttrType) String() string {
	if s, ok := attrTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", int32(t))
}

// checkArity reports a node of a known operator with too few or too many inputs or outputs,
// without one that the operator requires, or with an attribute of another type than ONNX
// gives it.
func checkArity(n *Node) error {
	domain := n.Domain
	if domain == "ai.onnx" {
		domain = ""
	}
	a, ok := arities[domain][n.OpType]
	if !ok {
		return nil
	}
	takes := func(lo, hi int, what string) string {
		switch {
		case hi == many:
			return fmt.Sprintf("%d or more %ss", lo, what)
		case lo == hi:
			return english.Count(lo, what)
		default:
			return fmt.Sprintf("%d to %d %ss", lo, hi, what)
		}
	}
	if len(n.Inputs) < a.minIn || (a.maxIn != many && len(n.Inputs) > a.maxIn) {
		return fmt.Errorf("node %s has %s; %s takes %s", n, english.Count(len(n.Inputs), "input"), n.OpType, takes(a.minIn, a.maxIn, "input"))
	}
	for i := range a.minIn {
		if n.Inputs[i] == "" {
			return fmt.Errorf("node %s: input %d is empty, and %s requires it", n, i, n.OpType)
		}
	}
	if len(n.Outputs) == 0 || (a.maxOut != many && len(n.Outputs) > a.maxOut) {
		return fmt.Errorf("node %s has %s; %s gives %s", n, english.Count(len(n.Outputs), "output"), n.OpType, takes(1, a.maxOut, "output"))
	}
	if n.Outputs[0] == "" {
		return fmt.Errorf("node %s: output 0 is empty", n)
	}
	for _, at := range n.Attrs {
		if want, ok := attrTypes[at.Name]; ok && at.Type != want {
			return fmt.Errorf("node %s: attribute %s is %s, want %s", n, at.Name, at.Type, want)
		}
	}
	return nil
}
