package autodiff

import (
	"fmt"
	"math"

	"github.com/sharpq/sharpq/ir"
)

// Broadcasting binary operators: the gradient of each input is summed back to its shape.

func gradAdd(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	dx := make([]string, 2)
	for i := range dx {
		if need[i] {
			dx[i] = b.SumTo(dy[0], b.Shape(n.Inputs[i]))
		}
	}
	return dx, nil
}

func gradSum(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	dx := make([]string, len(n.Inputs))
	for i := range dx {
		if need[i] {
			dx[i] = b.SumTo(dy[0], b.Shape(n.Inputs[i]))
		}
	}
	return dx, nil
}

func gradSub(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	dx := make([]string, 2)
	if need[0] {
		dx[0] = b.SumTo(dy[0], b.Shape(n.Inputs[0]))
	}
	if need[1] {
		dx[1] = b.Neg(b.SumTo(dy[0], b.Shape(n.Inputs[1])))
	}
	return dx, nil
}

func gradMul(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, y := n.Inputs[0], n.Inputs[1]
	dx := make([]string, 2)
	if need[0] {
		dx[0] = b.SumTo(b.Mul(dy[0], y), b.Shape(x))
	}
	if need[1] {
		if x == y {
			dx[1] = dx[0]
		} else {
			dx[1] = b.SumTo(b.Mul(dy[0], x), b.Shape(y))
		}
	}
	return dx, nil
}

// gradDiv: z = x/y, dz/dx = 1/y, dz/dy = −z/y.
func gradDiv(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, y, z := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	dx := make([]string, 2)
	if need[0] {
		dx[0] = b.SumTo(b.Div(dy[0], y), b.Shape(x))
	}
	if need[1] {
		dx[1] = b.Neg(b.SumTo(b.Div(b.Mul(dy[0], z), y), b.Shape(y)))
	}
	return dx, nil
}

// gradPow: z = x^p, dz/dx = p·x^(p−1), dz/dp = z·ln x (NaN for negative x, as in PyTorch).
func gradPow(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, p, z := n.Inputs[0], n.Inputs[1], n.Outputs[0]
	dt := b.DType(x)
	dx := make([]string, 2)
	if need[0] {
		var d string
		if c, ok := constScalar(b, p); ok {
			switch c {
			case 0:
				d = b.Scale(dy[0], 0)
			case 1:
				d = dy[0]
			case 2:
				d = b.Mul(dy[0], b.Scale(x, 2))
			default:
				d = b.Mul(dy[0], b.Scale(b.Op("Pow", []string{x, b.Scalar(dt, c-1)}), c))
			}
		} else {
			pc := p
			if b.DType(p) != dt {
				pc = b.Op("Cast", []string{p}, ir.IntAttr("to", int64(dt)))
			}
			pm1 := b.Sub(pc, b.Scalar(dt, 1))
			d = b.Mul(dy[0], b.Mul(pc, b.Op("Pow", []string{x, pm1})))
		}
		dx[0] = b.SumTo(d, b.Shape(x))
	}
	if need[1] {
		d := b.Mul(b.Mul(dy[0], z), b.Op("Log", []string{x}))
		dx[1] = b.SumTo(d, b.Shape(p))
	}
	return dx, nil
}

// constScalar returns the value of a one-element float or integer initializer.
func constScalar(b *Builder, name string) (float64, bool) {
	t := b.g.Initializer(name)
	if t == nil || t.Len() != 1 {
		return 0, false
	}
	v, err := t.Float64s()
	if err != nil || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

func gradWhere(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	cond := n.Inputs[0]
	dx := make([]string, 3)
	zero := b.Scalar(b.DType(dy[0]), 0)
	if need[1] {
		dx[1] = b.SumTo(b.Where(cond, dy[0], zero), b.Shape(n.Inputs[1]))
	}
	if need[2] {
		dx[2] = b.SumTo(b.Where(cond, zero, dy[0]), b.Shape(n.Inputs[2]))
	}
	return dx, nil
}

// Unary operators.

func unaryGrad(d string) []string { return []string{d} }

func gradRelu(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	return unaryGrad(b.Mask(b.Op("Greater", []string{x, b.Scalar(b.DType(x), 0)}), dy[0])), nil
}

func gradLeakyRelu(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	alpha := float64(n.AttrFloat("alpha", 0.01))
	pos := b.Op("Greater", []string{x, b.Scalar(b.DType(x), 0)})
	return unaryGrad(b.Where(pos, dy[0], b.Scale(dy[0], alpha))), nil
}

// gradPRelu: y = x where x > 0, slope·x elsewhere (the slope broadcasts to x, one per
// channel as PyTorch exports nn.PReLU); the slope's gradient is dy·x where x ≤ 0, summed back
// to its shape.
func gradPRelu(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, slope := n.Inputs[0], n.Inputs[1]
	pos := b.Op("Greater", []string{x, b.Scalar(b.DType(x), 0)})
	dx := make([]string, 2)
	if need[0] {
		dx[0] = b.Where(pos, dy[0], b.Mul(dy[0], slope))
	}
	if need[1] {
		dx[1] = b.SumTo(b.Where(pos, b.Scalar(b.DType(x), 0), b.Mul(dy[0], x)), b.Shape(slope))
	}
	return dx, nil
}

// gradElu: y = x where x > 0, alpha·(eˣ − 1) elsewhere; dy/dx is 1 and y + alpha.
func gradElu(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, y := n.Inputs[0], n.Outputs[0]
	alpha := float64(n.AttrFloat("alpha", 1))
	pos := b.Op("Greater", []string{x, b.Scalar(b.DType(x), 0)})
	neg := b.Mul(dy[0], b.Add(y, b.Scalar(b.DType(x), alpha)))
	return unaryGrad(b.Where(pos, dy[0], neg)), nil
}

// gradSelu: y = gamma·x where x > 0, gamma·alpha·(eˣ − 1) elsewhere; dy/dx is gamma and
// y + gamma·alpha.
func gradSelu(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, y := n.Inputs[0], n.Outputs[0]
	alpha := float64(n.AttrFloat("alpha", 1.67326319217681884765625))
	gamma := float64(n.AttrFloat("gamma", 1.05070102214813232421875))
	pos := b.Op("Greater", []string{x, b.Scalar(b.DType(x), 0)})
	neg := b.Mul(dy[0], b.Add(y, b.Scalar(b.DType(x), gamma*alpha)))
	return unaryGrad(b.Where(pos, b.Scale(dy[0], gamma), neg)), nil
}

// gradSoftplus: y = ln(1 + eˣ); dy/dx = sigmoid(x).
func gradSoftplus(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return unaryGrad(b.Mul(dy[0], b.Op("Sigmoid", []string{n.Inputs[0]}))), nil
}

// gradMish: y = x·tanh(softplus(x)); with t = tanh(softplus(x)), dy/dx = t + x·(1 − t²)·sigmoid(x).
func gradMish(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	one := b.Scalar(b.DType(x), 1)
	t := b.Op("Tanh", []string{b.Op("Softplus", []string{x})})
	slope := b.Add(t, b.Mul(b.Mul(x, b.Sub(one, b.Mul(t, t))), b.Op("Sigmoid", []string{x})))
	return unaryGrad(b.Mul(dy[0], slope)), nil
}

// gradGelu: the exact form y = x·Φ(x) has dy/dx = Φ(x) + x·φ(x); the tanh form (approximate =
// "tanh") y = x/2·(1 + t), t = tanh(u), u = √(2/π)·(x + 0.044715x³), has dy/dx =
// (1 + t)/2 + x/2·(1 − t²)·√(2/π)·(1 + 3·0.044715x²).
func gradGelu(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	dt := b.DType(x)
	one, half := b.Scalar(dt, 1), b.Scalar(dt, 0.5)
	x2 := b.Mul(x, x)
	var slope string
	switch approx := n.AttrString("approximate", "none"); approx {
	case "none":
		cdf := b.Mul(half, b.Add(one, b.Op("Erf", []string{b.Scale(x, 1/math.Sqrt2)})))
		pdf := b.Scale(b.Op("Exp", []string{b.Scale(x2, -0.5)}), 1/math.Sqrt(2*math.Pi))
		slope = b.Add(cdf, b.Mul(x, pdf))
	case "tanh":
		const k, c = 0.044715, 0.7978845608028654 // √(2/π)
		t := b.Op("Tanh", []string{b.Scale(b.Add(x, b.Scale(b.Mul(x2, x), k)), c)})
		du := b.Scale(b.Add(one, b.Scale(x2, 3*k)), c)
		slope = b.Add(b.Mul(half, b.Add(one, t)), b.Mul(b.Mul(b.Mul(half, x), b.Sub(one, b.Mul(t, t))), du))
	default:
		return nil, fmt.Errorf("approximate %q of Gelu: want none or tanh", approx)
	}
	return unaryGrad(b.Mul(dy[0], slope)), nil
}

// greaterEqual returns x >= y; GreaterOrEqual exists from opset 12.
func (b *Builder) greaterEqual(x, y string) string {
	if b.opset >= 12 {
		return b.Op("GreaterOrEqual", []string{x, y})
	}
	return b.Op("Not", []string{b.Op("Less", []string{x, y})})
}

// lessEqual returns x <= y; LessOrEqual exists from opset 12.
func (b *Builder) lessEqual(x, y string) string {
	if b.opset >= 12 {
		return b.Op("LessOrEqual", []string{x, y})
	}
	return b.Op("Not", []string{b.Op("Greater", []string{x, y})})
}

// gradClip passes the gradient where min <= x <= max (bounds included, as torch.clamp
// does); the gradient of a bound collects what flows where x lies beyond it.
func gradClip(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	if n.Attr("min") != nil || n.Attr("max") != nil {
		return nil, fmt.Errorf("attribute-form Clip (min/max attributes, opset < 11) is not supported")
	}
	x, lo, hi := n.Inputs[0], n.Input(1), n.Input(2)
	dx := make([]string, len(n.Inputs))
	if need[0] {
		var cond string
		if lo != "" {
			cond = b.greaterEqual(x, lo)
		}
		if hi != "" {
			c := b.lessEqual(x, hi)
			if cond == "" {
				cond = c
			} else {
				cond = b.Op("And", []string{cond, c})
			}
		}
		dx[0] = dy[0]
		if cond != "" {
			dx[0] = b.Mask(cond, dy[0])
		}
	}
	if len(need) > 1 && need[1] {
		dx[1] = b.SumTo(b.Mask(b.Op("Less", []string{x, lo}), dy[0]), b.Shape(lo))
	}
	if len(need) > 2 && need[2] {
		dx[2] = b.SumTo(b.Mask(b.Op("Greater", []string{x, hi}), dy[0]), b.Shape(hi))
	}
	return dx, nil
}

// gradSigmoid: dy·y·(1−y).
func gradSigmoid(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	y := n.Outputs[0]
	one := b.Scalar(b.DType(y), 1)
	return unaryGrad(b.Mul(dy[0], b.Mul(y, b.Sub(one, y)))), nil
}

// gradTanh: dy·(1−y²).
func gradTanh(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	y := n.Outputs[0]
	one := b.Scalar(b.DType(y), 1)
	return unaryGrad(b.Mul(dy[0], b.Sub(one, b.Mul(y, y)))), nil
}

// gradHardSigmoid: alpha·dy where 0 < alpha·x+beta < 1 (strict, as PyTorch).
func gradHardSigmoid(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	dt := b.DType(x)
	alpha := float64(n.AttrFloat("alpha", 0.2))
	beta := float64(n.AttrFloat("beta", 0.5))
	t := b.Add(b.Scale(x, alpha), b.Scalar(dt, beta))
	in := b.Op("And", []string{
		b.Op("Greater", []string{t, b.Scalar(dt, 0)}),
		b.Op("Less", []string{t, b.Scalar(dt, 1)}),
	})
	return unaryGrad(b.Mask(in, b.Scale(dy[0], alpha))), nil
}

// gradHardSwish: y = x·hardsigmoid(x) with alpha 1/6, beta 1/2; dy/dx is 0 below −3, 1
// above 3 and x/3 + 1/2 between (PyTorch's convention at the kinks).
func gradHardSwish(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	dt := b.DType(x)
	mid := b.Mul(dy[0], b.Add(b.Scale(x, 1.0/3), b.Scalar(dt, 0.5)))
	upper := b.Where(b.Op("Greater", []string{x, b.Scalar(dt, 3)}), dy[0], mid)
	return unaryGrad(b.Where(b.Op("Less", []string{x, b.Scalar(dt, -3)}), b.Scalar(dt, 0), upper)), nil
}

// gradSwish: y = x·σ(αx) (opset 24; SiLU at α = 1) has dy/dx = s·(1 + αx·(1 − s)) with
// s = σ(αx).
func gradSwish(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	dt := b.DType(x)
	ax := b.Scale(x, float64(n.AttrFloat("alpha", 1)))
	s := b.Op("Sigmoid", []string{ax})
	one := b.Scalar(dt, 1)
	return unaryGrad(b.Mul(dy[0], b.Mul(s, b.Add(one, b.Mul(ax, b.Sub(one, s)))))), nil
}

// gradSqrt: dy/(2y).
func gradSqrt(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return unaryGrad(b.Div(b.Scale(dy[0], 0.5), n.Outputs[0])), nil
}

// gradExp: dy·y.
func gradExp(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return unaryGrad(b.Mul(dy[0], n.Outputs[0])), nil
}

// gradErf: dy·2/√π·exp(−x²) (GELU's exact form uses Erf).
func gradErf(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	e := b.Op("Exp", []string{b.Neg(b.Mul(x, x))})
	return unaryGrad(b.Mul(dy[0], b.Scale(e, 2/math.Sqrt(math.Pi)))), nil
}

// gradLog: dy/x.
func gradLog(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return unaryGrad(b.Div(dy[0], n.Inputs[0])), nil
}

func gradNeg(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return unaryGrad(b.Neg(dy[0])), nil
}

// gradAbs: dy·sign(x).
func gradAbs(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return unaryGrad(b.Mul(dy[0], b.Op("Sign", []string{n.Inputs[0]}))), nil
}

// gradReciprocal: −dy·y².
func gradReciprocal(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	y := n.Outputs[0]
	return unaryGrad(b.Neg(b.Mul(dy[0], b.Mul(y, y)))), nil
}

// gradIdentity passes the gradient through unchanged (Identity and the straight-through
// pseudo-ops).
func gradIdentity(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	return unaryGrad(dy[0]), nil
}

// gradCast casts the gradient back to the input's float type.
func gradCast(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	dt := b.DType(n.Inputs[0])
	if dt == b.DType(dy[0]) {
		return unaryGrad(dy[0]), nil
	}
	return unaryGrad(b.Op("Cast", []string{dy[0]}, ir.IntAttr("to", int64(dt)))), nil
}

// gradMaxMin differentiates the elementwise Max and Min of two inputs: dY goes to the input
// that was selected and is split in half on ties (as torch.maximum/minimum).
func gradMaxMin(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	if len(n.Inputs) != 2 {
		return nil, fmt.Errorf("%s of %d inputs has no gradient rule (only 2)", n.OpType, len(n.Inputs))
	}
	x, y := n.Inputs[0], n.Inputs[1]
	dt := b.DType(x)
	wins := "Greater"
	if n.OpType == "Min" {
		wins = "Less"
	}
	half := b.Scale(dy[0], 0.5)
	tie := b.Op("Equal", []string{x, y})
	zero := b.Scalar(dt, 0)
	dx := make([]string, 2)
	for i, in := range []string{x, y} {
		if !need[i] {
			continue
		}
		other := []string{x, y}[1-i]
		d := b.Where(b.Op(wins, []string{in, other}), dy[0], b.Where(tie, half, zero))
		dx[i] = b.SumTo(d, b.Shape(in))
	}
	return dx, nil
}
