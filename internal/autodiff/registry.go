package autodiff

import "github.com/sharpq/sharpq/ir"

// Rule builds the gradient of one node. dy[i] is the gradient of output i, or "" when that
// output does not reach the loss; need[i] reports whether input i needs a gradient. A rule
// returns one name per input: a value with the input's element type and shape, or "" for
// none (a zero gradient). It builds with b, whose prefix already names the node; errors it
// records in b count as the rule's.
type Rule func(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error)

type opKey struct{ domain, op string }

// rules is the registry of gradient rules, one per (domain, op type). Adding an operator
// means adding its shape rule to ir, its rule here, and a finite-difference test.
var rules = map[opKey]Rule{
	// conv.go
	{"", "Conv"}: gradConv,
	// pool.go
	{"", "MaxPool"}:           gradMaxPool,
	{"", "AveragePool"}:       gradAveragePool,
	{"", "GlobalAveragePool"}: gradGlobalAveragePool,
	{"", "GlobalMaxPool"}:     gradGlobalMaxPool,
	// norm.go
	{"", "LayerNormalization"}:    gradLayerNorm,
	{"", "InstanceNormalization"}: gradInstanceNorm,
	{"", "GroupNormalization"}:    gradGroupNorm,
	{"", "BatchNormalization"}:    gradBatchNorm,
	{"", "Softmax"}:               gradSoftmax,
	{"", "LogSoftmax"}:            gradLogSoftmax,
	// matmul.go
	{"", "Gemm"}:   gradGemm,
	{"", "MatMul"}: gradMatMul,
	// elementwise.go
	{"", "Add"}:         gradAdd,
	{"", "Sub"}:         gradSub,
	{"", "Mul"}:         gradMul,
	{"", "Div"}:         gradDiv,
	{"", "Pow"}:         gradPow,
	{"", "Sum"}:         gradSum,
	{"", "Max"}:         gradMaxMin,
	{"", "Min"}:         gradMaxMin,
	{"", "Where"}:       gradWhere,
	{"", "Relu"}:        gradRelu,
	{"", "LeakyRelu"}:   gradLeakyRelu,
	{"", "PRelu"}:       gradPRelu,
	{"", "Elu"}:         gradElu,
	{"", "Selu"}:        gradSelu,
	{"", "Softplus"}:    gradSoftplus,
	{"", "Mish"}:        gradMish,
	{"", "Gelu"}:        gradGelu,
	{"", "Swish"}:       gradSwish,
	{"", "Clip"}:        gradClip,
	{"", "Sigmoid"}:     gradSigmoid,
	{"", "HardSigmoid"}: gradHardSigmoid,
	{"", "HardSwish"}:   gradHardSwish,
	{"", "Tanh"}:        gradTanh,
	{"", "Sqrt"}:        gradSqrt,
	{"", "Exp"}:         gradExp,
	{"", "Erf"}:         gradErf,
	{"", "Log"}:         gradLog,
	{"", "Neg"}:         gradNeg,
	{"", "Abs"}:         gradAbs,
	{"", "Reciprocal"}:  gradReciprocal,
	{"", "Identity"}:    gradIdentity,
	{"", "Cast"}:        gradCast,
	// shape.go
	{"", "Reshape"}:      gradReshape,
	{"", "Flatten"}:      gradReshape,
	{"", "Squeeze"}:      gradReshape,
	{"", "Unsqueeze"}:    gradReshape,
	{"", "Transpose"}:    gradTranspose,
	{"", "DepthToSpace"}: gradDepthToSpace,
	{"", "SpaceToDepth"}: gradSpaceToDepth,
	{"", "Concat"}:       gradConcat,
	{"", "Split"}:        gradSplit,
	{"", "Slice"}:        gradSlice,
	{"", "Pad"}:          gradPad,
	{"", "Expand"}:       gradExpand,
	{"", "Tile"}:         gradTile,
	{"", "Gather"}:       gradGather,
	// reduce.go
	{"", "ReduceSum"}:       gradReduce,
	{"", "ReduceMean"}:      gradReduce,
	{"", "ReduceSumSquare"}: gradReduce,
	{"", "ReduceMax"}:       gradReduceMaxMin,
	{"", "ReduceMin"}:       gradReduceMaxMin,
	// ste.go
	{Domain, "RoundSTE"}: gradIdentity,
	{Domain, "FloorSTE"}: gradIdentity,
}

// HasRule reports whether op in domain ("" for the default ONNX domain) has a gradient rule.
func HasRule(domain, op string) bool {
	_, ok := rules[opKey{canonDomain(domain), op}]
	return ok
}

func canonDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}
