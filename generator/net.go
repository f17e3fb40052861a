package generator

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// ZDim is the size of the generator's latent vectors.
const ZDim = 256

// Generator widths (DESIGN.md): the latents map to genC0 channels at a quarter of the image
// size, a 3×3 conv narrows them to genC1 at half size.
const (
	genC0 = 128
	genC1 = 64
	// genEps is the epsilon of the generator's BatchNorms (PyTorch's default).
	genEps = 1e-5
	// leakySlope is the generator's LeakyReLU slope.
	leakySlope = 0.2
)

// Generator is the state of one batch's generator and latents after synthesis: enough to
// rebuild it and continue training (the SADAG refinement does), or to regenerate its images.
type Generator struct {
	C, H, W int // the image shape it produces
	// Z holds the latents, [batch, ZDim].
	Z *ir.Tensor
	// Params are the generator's weights in PyTorch's layouts, named and ordered after the
	// modules they stand for: fc.weight [128·H/4·W/4, ZDim], fc.bias, bn0.weight, bn0.bias
	// [128], conv1.weight [64, 128, 3, 3], conv1.bias, bn1.weight, bn1.bias [64],
	// conv2.weight [C, 64, 3, 3], conv2.bias [C].
	Params []*ir.Tensor
}

// Batch returns the number of images (latent vectors) the generator holds.
func (g *Generator) Batch() int { return int(g.Z.Shape[0]) }

// Clone returns a deep copy of g.
func (g *Generator) Clone() *Generator {
	c := &Generator{C: g.C, H: g.H, W: g.W, Z: g.Z.Clone()}
	for _, p := range g.Params {
		c.Params = append(c.Params, p.Clone())
	}
	return c
}

// genParamNames are the generator's parameters in order.
var genParamNames = []string{
	"fc.weight", "fc.bias", "bn0.weight", "bn0.bias",
	"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
	"conv2.weight", "conv2.bias",
}

// quarter is the generator's first feature-map side for an image side n: n/4 rounded up.
// Two 2× upsamplings then make 4·quarter(n) ≥ n, and the generator crops the centre n (for
// Inception's 299; sides that are multiples of 4 need no crop).
func quarter(n int) int { return (n + 3) / 4 }

// genParamShapes returns the shapes of genParamNames for images of c×h×w.
func genParamShapes(c, h, w int) [][]int64 {
	c0, c1, cc := int64(genC0), int64(genC1), int64(c)
	fcOut := c0 * int64(quarter(h)) * int64(quarter(w))
	return [][]int64{
		{fcOut, ZDim}, {fcOut}, {c0}, {c0},
		{c1, c0, 3, 3}, {c1}, {c1}, {c1},
		{cc, c1, 3, 3}, {cc},
	}
}

// newGenerator returns a fresh generator for batch images of c×h×w
// with PyTorch's default initialisation — Linear and Conv weights and biases uniform in
// ±1/sqrt(fan_in), BatchNorm scales 1 and shifts 0 — and latents drawn from N(0, 1).
func newGenerator(rng *rand.Rand, batch, c, h, w int) *Generator {
	g := &Generator{C: c, H: h, W: w}
	shapes := genParamShapes(c, h, w)
	for i, name := range genParamNames {
		shape := shapes[i]
		data := make([]float32, ir.NumElements(shape))
		switch name {
		case "bn0.weight", "bn1.weight":
			for j := range data {
				data[j] = 1
			}
		case "bn0.bias", "bn1.bias":
		default:
			// Every bias follows its weight, so shapes[i&^1] is the weight of the layer.
			ws := shapes[i&^1]
			fanIn := ir.NumElements(ws[1:])
			bound := 1 / math.Sqrt(float64(fanIn))
			for j := range data {
				data[j] = float32((2*rng.Float64() - 1) * bound)
			}
		}
		g.Params = append(g.Params, ir.NewFloat32(name, shape, data))
	}
	z := make([]float32, batch*ZDim)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	g.Z = ir.NewFloat32("z", []int64{int64(batch), ZDim}, z)
	return g
}

// genInputs names the graph inputs a generator reads: the latents first, then the
// parameters in genParamNames order.
type genInputs struct {
	z      string
	params []string
}

// all returns the latents and the parameters, in order.
func (in genInputs) all() []string { return append([]string{in.z}, in.params...) }

// addGenerator adds g's latents and weights to m as graph inputs named prefix + their names,
// appends the generator's nodes (applyGenerator), and returns the name of its output image and
// the inputs. The nodes come after m's existing ones; callers reorder (sortNodes) when they feed
// the image into nodes that are already there.
func addGenerator(b *autodiff.Builder, g *Generator, prefix string) (string, genInputs, error) {
	in, err := addGeneratorInputs(b.Model(), g, prefix)
	if err != nil {
		return "", in, err
	}
	img := applyGenerator(b, g, in.z, in.params, prefix)
	return img, in, b.Err()
}

// addGeneratorInputs adds g's latents and weights to m as graph inputs named prefix + their
// names.
func addGeneratorInputs(m *ir.Model, g *Generator, prefix string) (genInputs, error) {
	var in genInputs
	var err error
	if in.z, err = addFloatInput(m, prefix+g.Z.Name, g.Z.Shape); err != nil {
		return in, err
	}
	for _, p := range g.Params {
		name, err := addFloatInput(m, prefix+p.Name, p.Shape)
		if err != nil {
			return in, err
		}
		in.params = append(in.params, name)
	}
	return in, nil
}

// addFloatInput adds a float32 graph input to m.
func addFloatInput(m *ir.Model, name string, shape []int64) (string, error) {
	if m.Graph.ValueInfo[name] != nil || m.Graph.Initializer(name) != nil {
		return "", fmt.Errorf("generator: the model already has a value named %q", name)
	}
	m.Graph.Inputs = append(m.Graph.Inputs, &ir.Value{Name: name, DType: ir.Float32, Shape: append([]int64{}, shape...)})
	m.Graph.ValueInfo[name] = &ir.Value{Name: name, DType: ir.Float32, Shape: append([]int64{}, shape...)}
	return name, nil
}

// applyGenerator appends the generator of g's shape applied to latents z with weights params
// (values named in genParamNames order) and returns the output image, [N, C, H, W]. Every
// application normalises with its own batch statistics.
func applyGenerator(b *autodiff.Builder, g *Generator, z string, params []string, prefix string) string {
	p := params
	n := g.Z.Shape[0]
	h4, w4 := int64(quarter(g.H)), int64(quarter(g.W))
	old := b.SetPrefix(prefix)
	defer b.SetPrefix(old)
	x := b.Op("Gemm", []string{z, p[0], p[1]}, ir.IntAttr("transB", 1))
	x = autodiff.BatchNormTrain(b, b.Reshape(x, []int64{n, genC0, h4, w4}), p[2], p[3], genEps)
	x = upConv(b, x, p[4], p[5])
	x = autodiff.BatchNormTrain(b, x, p[6], p[7], genEps)
	x = b.Op("LeakyRelu", []string{x}, ir.FloatAttr("alpha", leakySlope))
	x = upConv(b, x, p[8], p[9])
	if dh, dw := 4*h4-int64(g.H), 4*w4-int64(g.W); dh > 0 || dw > 0 {
		x = b.Slice(x, []int64{dh / 2, dw / 2}, []int64{dh/2 + int64(g.H), dw/2 + int64(g.W)}, []int64{2, 3}, nil)
	}
	x = b.Op("Tanh", []string{x})
	return autodiff.BatchNormTrain(b, x, "", "", genEps)
}

// upConv appends Conv(Upsample(x), w, bias) for nearest 2× upsampling and a 3×3 kernel w
// ([M, C, 3, 3]) with padding 1, the generator's up-and-convolve layer, without forming the
// upsampled tensor. Output pixel (2i+a, 2j+b) of that conv reads upsampled rows 2i+a−1 … 2i+a+1,
// which are rows i−1, i, i of x for a = 0 and i, i, i+1 for a = 1 (columns alike), so each of
// the four phases (a, b) is a 2×2 conv of x at its own resolution whose kernel sums rows
// (columns) of w: phaseKernel maps w to the four 2×2 kernels. The phases are then interleaved
// into the 2H×2W output (DepthToSpace). This does 4/9 of the multiply-adds of the direct
// form, and the gradient convolutions work on x's size instead of the upsampled one.
func upConv(b *autodiff.Builder, x, w, bias string) string {
	xs, ws := b.Shape(x), b.Shape(w)
	if xs == nil || ws == nil {
		return ""
	}
	if len(xs) != 4 || len(ws) != 4 || ws[1] != xs[1] || ws[2] != 3 || ws[3] != 3 {
		b.Fail(fmt.Errorf("generator: upConv of %v by kernel %v: want [N C H W] and [M C 3 3]", xs, ws))
		return ""
	}
	c := xs[1]
	m := ws[0]
	// k[m, c, a, b, r, s] = Σ_{u,v} rowMap[a][r][u]·rowMap[b][s][v]·w[m, c, u, v].
	k := b.Reshape(b.Op("MatMul", []string{b.Reshape(w, []int64{m * c, 9}), b.Floats(ir.Float32, []int64{9, 16}, phaseKernel())}), []int64{m, c, 2, 2, 2, 2})
	phases := make([]string, 0, 4)
	for a := int64(0); a < 2; a++ {
		for bb := int64(0); bb < 2; bb++ {
			ka := b.Reshape(b.Slice(k, []int64{a, bb}, []int64{a + 1, bb + 1}, []int64{2, 3}, nil), []int64{m, c, 2, 2})
			// Phase a reads rows i−1, i (a = 0) or i, i+1 (a = 1): pad before for a = 0, after for 1.
			pads := ir.IntsAttr("pads", 1-a, 1-bb, a, bb)
			phases = append(phases, b.Op("Conv", []string{x, ka, bias}, pads))
		}
	}
	// The phases in (a, b) order along the channels are DepthToSpace's DCR layout, which puts
	// phase (a, b)'s pixel (i, j) at (2i+a, 2j+b): the same permutation as a Reshape to
	// [N, a, b, M, H, W] and a Transpose to [N, M, H, a, W, b], in half the time of that 6-D
	// Transpose, and its gradient, a SpaceToDepth, in a quarter (BENCHMARKS.md, "Where a GENIE
	// step goes at 224×224").
	// DCR is DepthToSpace's default mode in every opset (the attribute exists from 11).
	return b.Op("DepthToSpace", []string{b.Op("Concat", phases, ir.IntAttr("axis", 1))}, ir.IntAttr("blocksize", 2))
}

// rowMap[a][r][u] is 1 when row u of a 3×3 kernel applied to the 2× upsampled input reads the
// same input row as row r of phase a's 2×2 kernel (see upConv).
var rowMap = [2][2][3]float64{
	{{1, 0, 0}, {0, 1, 1}}, // a = 0: rows i−1 ← u=0; i ← u=1, 2
	{{1, 1, 0}, {0, 0, 1}}, // a = 1: rows i ← u=0, 1; i+1 ← u=2
}

// phaseKernel returns the [9, 16] matrix taking a flattened 3×3 kernel (u, v) to the four
// flattened 2×2 phase kernels (a, b, r, s).
func phaseKernel() []float64 {
	t := make([]float64, 9*16)
	for u := 0; u < 3; u++ {
		for v := 0; v < 3; v++ {
			for a := 0; a < 2; a++ {
				for bb := 0; bb < 2; bb++ {
					for r := 0; r < 2; r++ {
						for s := 0; s < 2; s++ {
							t[(u*3+v)*16+a*8+bb*4+r*2+s] = rowMap[a][r][u] * rowMap[bb][s][v]
						}
					}
				}
			}
		}
	}
	return t
}

// sortNodes puts g's nodes in topological order, keeping the present order wherever it
// already is one.
func sortNodes(g *ir.Graph) error {
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				producer[o] = i
			}
		}
	}
	done := make([]bool, len(g.Nodes))
	onStack := make([]bool, len(g.Nodes))
	out := make([]*ir.Node, 0, len(g.Nodes))
	var visit func(i int) error
	visit = func(i int) error {
		if done[i] {
			return nil
		}
		if onStack[i] {
			return fmt.Errorf("generator: the graph has a cycle through node %s", g.Nodes[i])
		}
		onStack[i] = true
		for _, in := range g.Nodes[i].Inputs {
			if j, ok := producer[in]; ok && in != "" {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		onStack[i] = false
		done[i] = true
		out = append(out, g.Nodes[i])
		return nil
	}
	for i := range g.Nodes {
		if err := visit(i); err != nil {
			return err
		}
	}
	g.Nodes = out
	return nil
}

// Generate runs the generator once in ONNX Runtime and returns its images, [batch, C, H, W]
// (the generator's BatchNorms use the statistics of this batch, as in training, so the
// images are those the synthesis returned for this state).
func (g *Generator) Generate(rt *ort.Runtime) ([]float32, error) {
	m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Version: 13}}, Graph: ir.NewGraph("generator")}
	b := autodiff.NewBuilder(m)
	img, in, err := addGenerator(b, g, "")
	if err != nil {
		return nil, err
	}
	shape := []int64{g.Z.Shape[0], int64(g.C), int64(g.H), int64(g.W)}
	m.Graph.Outputs = []*ir.Value{{Name: img, DType: ir.Float32, Shape: shape}}
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	values := append([]*ir.Tensor{g.Z}, g.Params...)
	var specs []ort.TensorSpec
	for i, name := range in.all() {
		specs = append(specs, ort.TensorSpec{Name: name, DType: ort.Float32, Shape: values[i].Shape})
	}
	s, err := rt.NewSession(data, specs, []ort.TensorSpec{{Name: img, DType: ort.Float32, Shape: shape}})
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	defer s.Close()
	for i, name := range in.all() {
		copy(s.Float32(name), values[i].F32)
	}
	if err := s.Run(); err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	return append([]float32{}, s.Float32(img)...), nil
}

// ParamCount returns the number of weights of a generator for images of c×h×w; its first
// layer, from the latents to a quarter-size feature map, holds nearly all of them (103 M at
// 3×224×224), and synthesis keeps them with their gradients and Adam's moments.
func ParamCount(c, h, w int) int64 {
	var n int64
	for _, s := range genParamShapes(c, h, w) {
		n += ir.NumElements(s)
	}
	return n
}
