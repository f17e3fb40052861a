package ir

import "fmt"

// opDef is what the IR knows about one operator: how to infer its output types.
type opDef struct {
	infer func(c *inferCtx) error
}

// opTable is the registry of supported operators, keyed by domain then op type. It is read
// only; adding an operator means adding one entry here (and, for training, one gradient rule
// in internal/autodiff).
var opTable = map[string]map[string]opDef{
	"": {
		// Elementwise, shape-preserving.
		"Relu": unary, "LeakyRelu": unary, "Sigmoid": unary, "HardSigmoid": unary,
		"HardSwish": unary, "Tanh": unary, "Sqrt": unary, "Exp": unary, "Log": unary,
		"Neg": unary, "Abs": unary, "Floor": unary, "Ceil": unary, "Round": unary,
		"Reciprocal": unary, "Sign": unary, "Erf": unary, "Identity": unary, "Softmax": unary,
		"LogSoftmax": unary, "Clip": unary, "BatchNormalization": {inferBatchNorm},
		"LayerNormalization": {inferLayerNorm}, "InstanceNormalization": unary,
		"GroupNormalization": unary, "Elu": unary, "Selu": unary, "Softplus": unary,
		"Mish": unary, "Gelu": unary, "Swish": unary,
		"PRelu":   unary, // its slope broadcasts to the input, one way
		"Dropout": {inferDropout},
		"Add":     binary, "Sub": binary, "Mul": binary, "Div": binary, "Pow": binary,
		"Max": binary, "Min": binary, "Sum": binary,
		"Equal": compare, "Greater": compare, "Less": compare, "GreaterOrEqual": compare,
		"LessOrEqual": compare, "Not": {inferNot}, "And": compare, "Or": compare,
		"Where":             {inferWhere},
		"Cast":              {inferCast},
		"Conv":              {inferConv},
		"ConvTranspose":     {inferConvTranspose},
		"MaxPool":           {inferPool},
		"AveragePool":       {inferPool},
		"GlobalAveragePool": {inferGlobalPool}, "GlobalMaxPool": {inferGlobalPool},
		"Gemm":            {inferGemm},
		"MatMul":          {inferMatMul},
		"Flatten":         {inferFlatten},
		"Reshape":         {inferReshape},
		"Transpose":       {inferTranspose},
		"DepthToSpace":    {inferDepthToSpace},
		"SpaceToDepth":    {inferSpaceToDepth},
		"Concat":          {inferConcat},
		"Split":           {inferSplit},
		"Pad":             {inferPad},
		"Slice":           {inferSlice},
		"Shape":           {inferShapeOp},
		"Gather":          {inferGather},
		"Unsqueeze":       {inferUnsqueeze},
		"Squeeze":         {inferSqueeze},
		"Constant":        {inferConstant},
		"ConstantOfShape": {inferConstantOfShape},
		"Expand":          {inferExpand},
		"ReduceMean":      {inferReduce}, "ReduceSum": {inferReduce}, "ReduceMax": {inferReduce},
		"ReduceMin": {inferReduce}, "ReduceSumSquare": {inferReduce}, "ReduceL2": {inferReduce},
		"QuantizeLinear":   {inferQuantize},
		"DequantizeLinear": {inferDequantize},
		"MaxUnpool":        {inferMaxUnpool},
		"ScatterElements":  {inferSameAsInput0},
		"GatherElements":   {inferGatherElements},
		"Tile":             {inferTile},
		"RandomUniform":    {inferRandom},
		"RandomNormal":     {inferRandom},
	},
	"com.microsoft": {
		"FusedMatMul": {inferMatMul},
	},
	// sharpq's pseudo-ops: straight-through estimators that exist only while gradients are
	// built (internal/autodiff lowers them to Round and Floor before ONNX Runtime sees them).
	"sharpq": {
		"RoundSTE": unary, "FloorSTE": unary,
	},
}

func lookupOp(domain, op string) (opDef, bool) {
	if domain == "ai.onnx" {
		domain = ""
	}
	d, ok := opTable[domain][op]
	return d, ok
}

// Supported reports whether sharpq reads, executes and transforms op in domain.
func Supported(domain, op string) bool {
	_, ok := lookupOp(domain, op)
	return ok
}

var (
	unary   = opDef{inferSameAsInput0}
	binary  = opDef{inferBinary}
	compare = opDef{inferCompare}
)

func inferSameAsInput0(c *inferCtx) error {
	v := c.in(0)
	if v == nil {
		return c.errorf("input 0 (%q) has no known type", c.n.Input(0))
	}
	c.set(0, v.DType, v.Shape)
	return nil
}

func inferBatchNorm(c *inferCtx) error {
	if err := inferSameAsInput0(c); err != nil {
		return err
	}
	x := c.in(0)
	// Training-mode outputs: running mean and var, per channel.
	if len(x.Shape) >= 2 {
		for i := 1; i < len(c.n.Outputs); i++ {
			c.set(i, x.DType, []int64{x.Shape[1]})
		}
	}
	return nil
}

// inferLayerNorm: Y like X; the optional Mean and InvStdDev (training outputs) are X's shape
// with the normalised axes (axis on) set to 1, in the stash type (float32 unless it says so).
func inferLayerNorm(c *inferCtx) error {
	if err := inferSameAsInput0(c); err != nil {
		return err
	}
	x := c.in(0)
	if x.Shape == nil {
		return nil
	}
	axis, err := LayerNormAxis(c.n, len(x.Shape))
	if err != nil {
		return c.errorf("%v", err)
	}
	stats := append([]int64{}, x.Shape...)
	for i := axis; i < len(stats); i++ {
		stats[i] = 1
	}
	dt := DType(c.n.AttrInt("stash_type", int64(Float32)))
	for i := 1; i < len(c.n.Outputs); i++ {
		c.set(i, dt, stats)
	}
	return nil
}

// LayerNormAxis returns the first axis a LayerNormalization node normalises over (it
// normalises that axis and all after it) for an input of the given rank.
func LayerNormAxis(n *Node, rank int) (int, error) {
	a := n.AttrInt("axis", -1)
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", n.AttrInt("axis", -1), rank)
	}
	return int(a), nil
}

func inferDropout(c *inferCtx) error {
	if err := inferSameAsInput0(c); err != nil {
		return err
	}
	c.set(1, Bool, c.in(0).Shape)
	return nil
}

func inferNot(c *inferCtx) error {
	v := c.in(0)
	if v == nil {
		return c.errorf("input 0 has no known type")
	}
	c.set(0, Bool, v.Shape)
	return nil
}

func broadcastInputs(c *inferCtx, first int) ([]int64, error) {
	var shapes [][]int64
	for i := first; i < len(c.n.Inputs); i++ {
		v := c.in(i)
		if v == nil {
			return nil, c.errorf("input %d (%q) has no known type", i, c.n.Input(i))
		}
		if v.Shape == nil {
			return nil, nil
		}
		shapes = append(shapes, v.Shape)
	}
	out, err := broadcast(shapes...)
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	return out, nil
}

func inferBinary(c *inferCtx) error {
	if len(c.n.Inputs) == 0 {
		return c.errorf("no inputs")
	}
	s, err := broadcastInputs(c, 0)
	if err != nil {
		return err
	}
	c.set(0, c.in(0).DType, s)
	return nil
}

func inferCompare(c *inferCtx) error {
	s, err := broadcastInputs(c, 0)
	if err != nil {
		return err
	}
	c.set(0, Bool, s)
	return nil
}

func inferWhere(c *inferCtx) error {
	if len(c.n.Inputs) != 3 {
		return c.errorf("%d inputs, want 3 (condition, X, Y)", len(c.n.Inputs))
	}
	s, err := broadcastInputs(c, 0)
	if err != nil {
		return err
	}
	c.set(0, c.in(1).DType, s)
	return nil
}

func inferCast(c *inferCtx) error {
	v := c.in(0)
	if v == nil {
		return c.errorf("input 0 has no known type")
	}
	c.set(0, DType(c.n.AttrInt("to", int64(Float32))), v.Shape)
	return nil
}

func inferConv(c *inferCtx) error {
	x, w, err := c.shapes01()
	if err != nil {
		return err
	}
	if len(x) < 3 || len(w) != len(x) {
		return c.errorf("input %v and weight %v ranks do not fit a convolution", x, w)
	}
	group := c.n.AttrInt("group", 1)
	if x[1] >= 0 && w[1]*group != x[1] {
		return c.errorf("input 1 (%q): weight shape %v with group %d needs %d input channels, input 0 has shape %v", c.n.Input(1), w, group, w[1]*group, x)
	}
	if w[0]%group != 0 {
		return c.errorf("weight shape %v: %d output channels not divisible by group %d", w, w[0], group)
	}
	kernel := c.n.AttrInts("kernel_shape", w[2:])
	strides, dil, pads, err := windowAttrs(c.n, x[2:], kernel)
	if err != nil {
		return err
	}
	r := len(x) - 2
	out := []int64{x[0], w[0]}
	for i := 0; i < r; i++ {
		out = append(out, spatialOut(x[2+i], kernel[i], strides[i], dil[i], pads[i], pads[i+r], false))
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferConvTranspose(c *inferCtx) error {
	x, w, err := c.shapes01()
	if err != nil {
		return err
	}
	if len(x) < 3 || len(w) != len(x) {
		return c.errorf("input %v and weight %v ranks do not fit a transposed convolution", x, w)
	}
	group := c.n.AttrInt("group", 1)
	kernel := c.n.AttrInts("kernel_shape", w[2:])
	r := len(x) - 2
	out := []int64{x[0], w[1] * group}
	if os := c.n.AttrInts("output_shape", nil); os != nil {
		if len(os) < r {
			return c.errorf("output_shape %v does not fit %d spatial axes", os, r)
		}
		out = append(out, os[len(os)-r:]...)
		c.set(0, c.in(0).DType, out)
		return nil
	}
	strides, dil, pads, err := windowAttrs(c.n, make([]int64, r), kernel)
	if err != nil {
		return err
	}
	opad := c.n.AttrInts("output_padding", make([]int64, r))
	if len(opad) != r {
		return c.errorf("output_padding %v does not fit %d spatial axes", opad, r)
	}
	for i := 0; i < r; i++ {
		if x[2+i] < 0 {
			out = append(out, -1)
			continue
		}
		out = append(out, strides[i]*(x[2+i]-1)+opad[i]+dil[i]*(kernel[i]-1)+1-pads[i]-pads[i+r])
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferPool(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	kernel := c.n.AttrInts("kernel_shape", nil)
	if len(x) < 3 || len(kernel) != len(x)-2 {
		return c.errorf("kernel_shape %v does not fit input shape %v", kernel, x)
	}
	strides, dil, pads, err := windowAttrs(c.n, x[2:], kernel)
	if err != nil {
		return err
	}
	r := len(x) - 2
	ceil := c.n.AttrInt("ceil_mode", 0) == 1
	out := []int64{x[0], x[1]}
	for i := 0; i < r; i++ {
		out = append(out, spatialOut(x[2+i], kernel[i], strides[i], dil[i], pads[i], pads[i+r], ceil))
	}
	c.set(0, c.in(0).DType, out)
	c.set(1, Int64, out) // MaxPool's optional Indices
	return nil
}

func inferGlobalPool(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	if len(x) < 2 {
		return c.errorf("input shape %v has no channel axis", x)
	}
	out := append([]int64{}, x[:2]...)
	for range x[2:] {
		out = append(out, 1)
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferGemm(c *inferCtx) error {
	a, b, err := c.shapes01()
	if err != nil {
		return err
	}
	if len(a) != 2 || len(b) != 2 {
		return c.errorf("Gemm needs 2-D inputs, got %v and %v", a, b)
	}
	m, k := a[0], a[1]
	if c.n.AttrInt("transA", 0) == 1 {
		m, k = k, m
	}
	k2, n := b[0], b[1]
	if c.n.AttrInt("transB", 0) == 1 {
		k2, n = n, k2
	}
	if k >= 0 && k2 >= 0 && k != k2 {
		return c.errorf("input 1 (%q): shape %v does not match input 0 shape %v (inner dimensions %d and %d)", c.n.Input(1), b, a, k, k2)
	}
	c.set(0, c.in(0).DType, []int64{m, n})
	return nil
}

func inferMatMul(c *inferCtx) error {
	a, b, err := c.shapes01()
	if err != nil {
		return err
	}
	a, b = append([]int64{}, a...), append([]int64{}, b...)
	if c.n.AttrInt("transA", 0) == 1 && len(a) >= 2 {
		a[len(a)-1], a[len(a)-2] = a[len(a)-2], a[len(a)-1]
	}
	if c.n.AttrInt("transB", 0) == 1 && len(b) >= 2 {
		b[len(b)-1], b[len(b)-2] = b[len(b)-2], b[len(b)-1]
	}
	squeezeA, squeezeB := len(a) == 1, len(b) == 1
	if squeezeA {
		a = []int64{1, a[0]}
	}
	if squeezeB {
		b = []int64{b[0], 1}
	}
	if len(a) < 2 || len(b) < 2 {
		return c.errorf("MatMul inputs %v and %v", a, b)
	}
	k, k2 := a[len(a)-1], b[len(b)-2]
	if k >= 0 && k2 >= 0 && k != k2 {
		return c.errorf("input 1 (%q): shape %v does not match input 0 shape %v", c.n.Input(1), b, a)
	}
	batch, err := broadcast(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return c.errorf("%v", err)
	}
	out := append(batch, a[len(a)-2], b[len(b)-1])
	if squeezeA {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if squeezeB {
		out = out[:len(out)-1]
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferFlatten(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	axis := c.n.AttrInt("axis", 1)
	if axis < 0 {
		axis += int64(len(x))
	}
	if axis < 0 || axis > int64(len(x)) {
		return c.errorf("axis %d out of range for shape %v", c.n.AttrInt("axis", 1), x)
	}
	prod := func(s []int64) int64 {
		p := int64(1)
		for _, d := range s {
			if d < 0 {
				return -1
			}
			p *= d
		}
		return p
	}
	c.set(0, c.in(0).DType, []int64{prod(x[:axis]), prod(x[axis:])})
	return nil
}

func inferReshape(c *inferCtx) error {
	x := c.in(0)
	if x == nil {
		return c.errorf("input 0 has no known type")
	}
	target, ok := c.constInts(1)
	if !ok {
		s := c.in(1)
		if s != nil && len(s.Shape) == 1 && s.Shape[0] >= 0 && s.Shape[0] <= maxRank {
			c.set(0, x.DType, unknownShape(int(s.Shape[0])))
			return nil
		}
		c.set(0, x.DType, nil)
		return nil
	}
	out, err := ReshapeTarget(x.Shape, target, c.n.AttrInt("allowzero", 0) == 1)
	if err != nil {
		return c.errorf("%v", err)
	}
	c.set(0, x.DType, out)
	return nil
}

// ReshapeTarget resolves a Reshape target (with 0 = copy and -1 = infer) against an input
// shape. Unknown input dimensions give -1.
func ReshapeTarget(in, target []int64, allowZero bool) ([]int64, error) {
	out := append([]int64{}, target...)
	known, inferAt := int64(1), -1
	// An unknown input dimension copied by a 0 stays at its axis: it cancels out of the
	// element counts on both sides, so the other dimensions can still be resolved.
	copied := map[int]bool{}
	for i, d := range out {
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("reshape %v: 0 at axis %d beyond input rank %d", target, i, len(in))
			}
			out[i] = in[i]
			if in[i] < 0 {
				copied[i] = true
				continue
			}
			known *= in[i]
		case d == -1:
			if inferAt >= 0 {
				return nil, fmt.Errorf("reshape %v: more than one -1", target)
			}
			inferAt = i
		case d < -1:
			return nil, fmt.Errorf("reshape %v: invalid dimension %d", target, d)
		default:
			known *= d
		}
	}
	total := int64(1)
	for i, d := range in {
		switch {
		case copied[i]:
		case d < 0:
			total = -1
		case total >= 0:
			total *= d
		}
	}
	if inferAt >= 0 {
		if total < 0 || known == 0 {
			out[inferAt] = -1
		} else {
			if total%known != 0 {
				return nil, fmt.Errorf("cannot reshape %v to %v", in, target)
			}
			out[inferAt] = total / known
		}
	} else if total >= 0 && known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v (%d elements)", in, total, target, known)
	}
	return out, nil
}

func inferTranspose(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	perm := c.n.AttrInts("perm", nil)
	if perm == nil {
		for i := len(x) - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != len(x) {
		return c.errorf("perm %v does not fit shape %v", perm, x)
	}
	out := make([]int64, len(x))
	for i, p := range perm {
		if p < 0 || int(p) >= len(x) {
			return c.errorf("perm %v out of range for shape %v", perm, x)
		}
		out[i] = x[p]
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

// inferDepthToSpace: [N, C·b², H, W] → [N, C, H·b, W·b] for blocksize b.
func inferDepthToSpace(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	bs := c.n.AttrInt("blocksize", 0)
	if mode := c.n.AttrString("mode", "DCR"); mode != "DCR" && mode != "CRD" {
		return c.errorf("mode %q: want DCR or CRD", mode)
	}
	if len(x) != 4 || bs < 1 || x[1]%(bs*bs) != 0 {
		return c.errorf("blocksize %d does not fit shape %v (want [N, C·blocksize², H, W])", bs, x)
	}
	c.set(0, c.in(0).DType, []int64{x[0], x[1] / (bs * bs), x[2] * bs, x[3] * bs})
	return nil
}

// inferSpaceToDepth: [N, C, H·b, W·b] → [N, C·b², H, W] for blocksize b.
func inferSpaceToDepth(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	bs := c.n.AttrInt("blocksize", 0)
	if len(x) != 4 || bs < 1 || x[2]%bs != 0 || x[3]%bs != 0 {
		return c.errorf("blocksize %d does not fit shape %v (want [N, C, H·blocksize, W·blocksize])", bs, x)
	}
	c.set(0, c.in(0).DType, []int64{x[0], x[1] * bs * bs, x[2] / bs, x[3] / bs})
	return nil
}

func inferConcat(c *inferCtx) error {
	var out []int64
	var axis int
	for i := range c.n.Inputs {
		s, err := c.shape(i)
		if err != nil {
			return err
		}
		if i == 0 {
			a, err := normAxis(c.n.AttrInt("axis", 0), len(s))
			if err != nil {
				return c.errorf("%v", err)
			}
			axis = a
			out = append([]int64{}, s...)
			continue
		}
		if len(s) != len(out) {
			return c.errorf("input %d shape %v has another rank than input 0 %v", i, s, out)
		}
		for d := range s {
			switch {
			case d == axis:
				if out[d] < 0 || s[d] < 0 {
					out[d] = -1
				} else {
					out[d] += s[d]
				}
			case out[d] >= 0 && s[d] >= 0 && out[d] != s[d]:
				return c.errorf("input %d shape %v does not match %v off axis %d", i, s, out, axis)
			}
		}
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

// inferSplit gives each output its part of the input along axis: the sizes of the split
// input (opset 13 on) or attribute (before), or else equal parts, the last one smaller when
// the axis does not divide (opset 18's num_outputs rule; earlier opsets require it to divide).
func inferSplit(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	axis, err := normAxis(c.n.AttrInt("axis", 0), len(x))
	if err != nil {
		return c.errorf("%v", err)
	}
	k := len(c.n.Outputs)
	sizes := c.n.AttrInts("split", nil)
	if c.opset >= 13 && c.n.Input(1) != "" {
		var ok bool
		if sizes, ok = c.constInts(1); !ok {
			for i := range k {
				c.set(i, c.in(0).DType, unknownShape(len(x)))
			}
			return nil
		}
	}
	d := x[axis]
	switch {
	case sizes != nil:
		if len(sizes) != k {
			return c.errorf("%d split sizes %v for %d outputs", len(sizes), sizes, k)
		}
		total := int64(0)
		for _, v := range sizes {
			if v < 0 {
				return c.errorf("negative split size in %v", sizes)
			}
			total += v
		}
		if d >= 0 && total != d {
			return c.errorf("split sizes %v add up to %d, not axis %d's %d", sizes, total, axis, d)
		}
	case d >= 0:
		part := (d + int64(k) - 1) / int64(k)
		if c.opset < 18 && d%int64(k) != 0 {
			return c.errorf("axis %d of %v does not split evenly into %d outputs", axis, x, k)
		}
		for i := range k {
			sizes = append(sizes, min(part, d-int64(i)*part))
		}
	}
	for i := range k {
		out := append([]int64{}, x...)
		out[axis] = -1
		if sizes != nil {
			out[axis] = sizes[i]
		}
		c.set(i, c.in(0).DType, out)
	}
	return nil
}

func inferPad(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	var pads []int64
	if c.opset < 11 {
		pads = c.n.AttrInts("pads", nil)
	} else {
		var ok bool
		if pads, ok = c.constInts(1); !ok {
			c.set(0, c.in(0).DType, unknownShape(len(x)))
			return nil
		}
	}
	axes := make([]int64, len(x))
	for i := range axes {
		axes[i] = int64(i)
	}
	if a, ok := c.constInts(3); ok {
		axes = a
	}
	if len(pads) != 2*len(axes) {
		return c.errorf("pads %v do not fit %d axes", pads, len(axes))
	}
	out := append([]int64{}, x...)
	for i, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return c.errorf("%v", err)
		}
		if out[ax] >= 0 {
			out[ax] += pads[i] + pads[i+len(axes)]
		}
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

// maxRank bounds the rank a shape rule derives from another value's dimension (a Reshape
// target of unknown values but known length), so that a corrupt model cannot make it allocate
// a slice of absurd length.
const maxRank = 1 << 10

func unknownShape(rank int) []int64 {
	s := make([]int64, rank)
	for i := range s {
		s[i] = -1
	}
	return s
}

func inferSlice(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	var starts, ends, axes, steps []int64
	if c.opset < 10 {
		starts, ends, axes = c.n.AttrInts("starts", nil), c.n.AttrInts("ends", nil), c.n.AttrInts("axes", nil)
	} else {
		var ok1, ok2 bool
		starts, ok1 = c.constInts(1)
		ends, ok2 = c.constInts(2)
		if !ok1 || !ok2 {
			c.set(0, c.in(0).DType, unknownShape(len(x)))
			return nil
		}
		axes, _ = c.constInts(3)
		steps, _ = c.constInts(4)
	}
	out, err := SliceShape(x, starts, ends, axes, steps)
	if err != nil {
		return c.errorf("%v", err)
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

// SliceRange is one axis of a resolved Slice: elements Start, Start+Step, … before End.
type SliceRange struct {
	Axis             int   // axis of the sliced input, normalised to ≥ 0
	Start, End, Step int64 // clamped to the axis; End is exclusive, -1 when a negative Step runs to index 0
	Len              int64 // elements taken along Axis; -1 when the dimension is unknown (Start and End are then 0)
}

// ResolveSlice clamps Slice's starts/ends/axes/steps against shape x, per the ONNX rules.
func ResolveSlice(x, starts, ends, axes, steps []int64) ([]SliceRange, error) {
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("slice starts %v and ends %v differ in length", starts, ends)
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = ones(len(starts))
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("slice axes %v / steps %v do not fit starts %v", axes, steps, starts)
	}
	var rs []SliceRange
	for i := range starts {
		ax, err := normAxis(axes[i], len(x))
		if err != nil {
			return nil, err
		}
		dim, st, en, step := x[ax], starts[i], ends[i], steps[i]
		if step == 0 {
			return nil, fmt.Errorf("slice step 0 on axis %d", ax)
		}
		if dim < 0 {
			rs = append(rs, SliceRange{Axis: ax, Step: step, Len: -1})
			continue
		}
		clamp := func(v, lo, hi int64) int64 {
			if v < 0 {
				v += dim
			}
			if v < lo {
				return lo
			}
			if v > hi {
				return hi
			}
			return v
		}
		// The counts are ceil(distance/|step|), written so that a step near ±2⁶³ cannot
		// overflow (-MinInt64 wraps to MinInt64, which still divides to 0).
		var n int64
		if step > 0 {
			st, en = clamp(st, 0, dim), clamp(en, 0, dim)
			if en > st {
				n = (en-st-1)/step + 1
			}
		} else {
			st, en = clamp(st, 0, dim-1), clamp(en, -1, dim-1)
			if ends[i] < -dim {
				en = -1
			}
			if st > en {
				n = (st-en-1)/-step + 1
			}
		}
		rs = append(rs, SliceRange{Axis: ax, Start: st, End: en, Step: step, Len: n})
	}
	return rs, nil
}

// SliceShape returns the output shape of Slice.
func SliceShape(x, starts, ends, axes, steps []int64) ([]int64, error) {
	rs, err := ResolveSlice(x, starts, ends, axes, steps)
	if err != nil {
		return nil, err
	}
	out := append([]int64{}, x...)
	for _, r := range rs {
		out[r.Axis] = r.Len
	}
	return out, nil
}

func inferShapeOp(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	start, end := shapeOpRange(c.n, len(x))
	c.set(0, Int64, []int64{int64(end - start)})
	return nil
}

// shapeOpRange resolves Shape's optional start/end attributes (opset 15).
func shapeOpRange(n *Node, rank int) (int, int) {
	clamp := func(v int64) int {
		if v < 0 {
			v += int64(rank)
		}
		if v < 0 {
			return 0
		}
		if v > int64(rank) {
			return rank
		}
		return int(v)
	}
	start := clamp(n.AttrInt("start", 0))
	end := clamp(n.AttrInt("end", int64(rank)))
	if end < start {
		end = start
	}
	return start, end
}

func inferGather(c *inferCtx) error {
	x, idx, err := c.shapes01()
	if err != nil {
		return err
	}
	axis, err := normAxis(c.n.AttrInt("axis", 0), len(x))
	if err != nil {
		return c.errorf("%v", err)
	}
	out := append(append(append([]int64{}, x[:axis]...), idx...), x[axis+1:]...)
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferGatherElements(c *inferCtx) error {
	idx, err := c.shape(1)
	if err != nil {
		return err
	}
	c.set(0, c.in(0).DType, idx)
	return nil
}

// axesArg returns the axes of Unsqueeze/Squeeze/Reduce*: an attribute before opsetInput,
// an input from then on.
func (c *inferCtx) axesArg(opsetInput int64) ([]int64, bool) {
	if c.opset < opsetInput {
		a := c.n.Attr("axes")
		if a == nil {
			return nil, true
		}
		return a.Ints, true
	}
	if c.n.Input(1) == "" {
		return nil, true
	}
	return c.constInts(1)
}

func inferUnsqueeze(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	axes, ok := c.axesArg(13)
	if !ok {
		return c.errorf("axes input must be a constant")
	}
	out, err := UnsqueezeShape(x, axes)
	if err != nil {
		return c.errorf("%v", err)
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

// UnsqueezeShape inserts 1s at axes (relative to the output rank).
func UnsqueezeShape(x, axes []int64) ([]int64, error) {
	rank := len(x) + len(axes)
	ins := map[int]bool{}
	for _, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if ins[ax] {
			return nil, fmt.Errorf("unsqueeze axes %v name axis %d twice", axes, ax)
		}
		ins[ax] = true
	}
	out := make([]int64, 0, rank)
	j := 0
	for i := 0; i < rank; i++ {
		if ins[i] {
			out = append(out, 1)
		} else {
			out = append(out, x[j])
			j++
		}
	}
	return out, nil
}

func inferSqueeze(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	axes, ok := c.axesArg(13)
	if !ok {
		return c.errorf("axes input must be a constant")
	}
	drop := map[int]bool{}
	for _, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return c.errorf("%v", err)
		}
		drop[ax] = true
	}
	out := []int64{}
	for i, d := range x {
		if (axes == nil && d == 1) || drop[i] {
			continue
		}
		out = append(out, d)
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferConstant(c *inferCtx) error {
	t, err := ConstantValue(c.n)
	if err != nil {
		return err
	}
	c.set(0, t.DType, t.Shape)
	return nil
}

// ConstantValue returns the tensor a Constant node produces.
func ConstantValue(n *Node) (*Tensor, error) {
	for _, a := range n.Attrs {
		switch a.Name {
		case "value":
			if a.T == nil {
				return nil, fmt.Errorf("node %s: value attribute is not a tensor", n)
			}
			return a.T, nil
		case "value_float":
			return &Tensor{DType: Float32, Shape: []int64{}, F32: []float32{a.F}}, nil
		case "value_floats":
			return &Tensor{DType: Float32, Shape: []int64{int64(len(a.Floats))}, F32: a.Floats}, nil
		case "value_int":
			return &Tensor{DType: Int64, Shape: []int64{}, I64: []int64{a.I}}, nil
		case "value_ints":
			return &Tensor{DType: Int64, Shape: []int64{int64(len(a.Ints))}, I64: a.Ints}, nil
		}
	}
	return nil, fmt.Errorf("node %s: Constant without a supported value attribute", n)
}

func inferConstantOfShape(c *inferCtx) error {
	dt := Float32
	if a := c.n.Attr("value"); a != nil && a.T != nil {
		dt = a.T.DType
	}
	s, ok := c.constInts(0)
	if !ok {
		v := c.in(0)
		if v == nil || len(v.Shape) != 1 || v.Shape[0] < 0 || v.Shape[0] > maxRank {
			c.set(0, dt, nil)
			return nil
		}
		s = unknownShape(int(v.Shape[0]))
	}
	c.set(0, dt, s)
	return nil
}

func inferExpand(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	target, ok := c.constInts(1)
	if !ok {
		c.set(0, c.in(0).DType, nil)
		return nil
	}
	out, err := broadcast(x, target)
	if err != nil {
		return c.errorf("%v", err)
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferTile(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	reps, ok := c.constInts(1)
	if !ok || len(reps) != len(x) {
		c.set(0, c.in(0).DType, unknownShape(len(x)))
		return nil
	}
	out := make([]int64, len(x))
	for i := range x {
		out[i] = x[i] * reps[i]
		if x[i] < 0 {
			out[i] = -1
		}
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferReduce(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	inputFrom := int64(18)
	if c.n.OpType == "ReduceSum" {
		inputFrom = 13
	}
	axes, ok := c.axesArg(inputFrom)
	if !ok {
		return c.errorf("axes input must be a constant")
	}
	if axes == nil && c.n.AttrInt("noop_with_empty_axes", 0) == 1 {
		c.set(0, c.in(0).DType, x)
		return nil
	}
	red := map[int]bool{}
	for _, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return c.errorf("%v", err)
		}
		red[ax] = true
	}
	keep := c.n.AttrInt("keepdims", 1) == 1
	out := []int64{}
	for i, d := range x {
		if axes == nil || red[i] {
			if keep {
				out = append(out, 1)
			}
			continue
		}
		out = append(out, d)
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferQuantize(c *inferCtx) error {
	x := c.in(0)
	if x == nil {
		return c.errorf("input 0 has no known type")
	}
	dt := Uint8
	if zp := c.in(2); zp != nil {
		dt = zp.DType
	}
	if a := c.n.Attr("output_dtype"); a != nil && a.I != 0 {
		dt = DType(a.I)
	}
	c.set(0, dt, x.Shape)
	return nil
}

func inferDequantize(c *inferCtx) error {
	x := c.in(0)
	s := c.in(1)
	if x == nil || s == nil {
		return c.errorf("input or scale has no known type")
	}
	c.set(0, s.DType, x.Shape)
	return nil
}

func inferMaxUnpool(c *inferCtx) error {
	x, err := c.shape(0)
	if err != nil {
		return err
	}
	if s, ok := c.constInts(2); ok {
		c.set(0, c.in(0).DType, s)
		return nil
	}
	kernel := c.n.AttrInts("kernel_shape", nil)
	r := len(x) - 2
	strides := c.n.AttrInts("strides", ones(r))
	pads := c.n.AttrInts("pads", make([]int64, 2*r))
	if r < 1 || len(kernel) != r || len(strides) != r || len(pads) != 2*r {
		return c.errorf("kernel_shape %v, strides %v, pads %v do not fit input shape %v", kernel, strides, pads, x)
	}
	out := []int64{x[0], x[1]}
	for i := 0; i < r; i++ {
		out = append(out, (x[2+i]-1)*strides[i]+kernel[i]-pads[i]-pads[i+r])
	}
	c.set(0, c.in(0).DType, out)
	return nil
}

func inferRandom(c *inferCtx) error {
	shape := c.n.AttrInts("shape", nil)
	if shape == nil {
		return c.errorf("shape attribute missing")
	}
	c.set(0, DType(c.n.AttrInt("dtype", int64(Float32))), shape)
	return nil
}
