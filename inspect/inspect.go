// Package inspect summarises an ONNX model for sharpq: inputs and outputs, operators,
// parameters, whether BatchNormalization statistics survive, the quantizable layers and the
// reconstruction blocks of a float model, or the quantized layers and their bits of a QDQ one.
package inspect

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

// Report is the summary of one model. Its JSON form is what `sharpq inspect --json` prints.
type Report struct {
	IRVersion  int64     `json:"ir_version"`       // the model's ONNX IR version
	Opset      int64     `json:"opset"`            // default-domain opset; 0 when the model does not import it
	Producer   string    `json:"producer"`         // producer name and version, joined by a space
	Inputs     []Tensor  `json:"inputs"`           // the graph's runtime inputs
	Outputs    []Tensor  `json:"outputs"`          // the graph's outputs
	Ops        []OpCount `json:"ops"`              // nodes per operator type, most used first, ties by name
	Nodes      int       `json:"nodes"`            // number of nodes in the graph
	Parameters int64     `json:"parameters"`       // elements of float initializers and QDQ integer weights, less BN running statistics and quantizer scales and zero points
	BNNodes    int       `json:"batchnorm_nodes"`  // number of BatchNormalization nodes
	BNFolded   bool      `json:"batchnorm_folded"` // no BN, and the model has Convs, all with a bias: BN was likely folded at export
	BNStatus   string    `json:"batchnorm_status"` // human-readable verdict on the BN statistics data-free synthesis needs
	// Quantized says why the model is not a float model to quantize ("" when it is): its
	// weights go through QDQ nodes already.
	Quantized string `json:"quantized,omitempty"`
	// ChannelsLast says the model's input is channels-last with a Transpose to channels-first
	// (ir.ChannelsFirstInput), which sharpq reads channels-first; Inputs show it so.
	ChannelsLast bool `json:"channels_last,omitempty"`
	// PixelInput says the model's input is uint8 pixels cast to float: sharpq reads it as
	// float images in [0,1] and gives quantized models the uint8 input back.
	PixelInput bool `json:"uint8_pixels,omitempty"`
	// KeptOutputs names the outputs after the first (listed in Outputs too): sharpq
	// quantizes for the first, the logits, and puts these back on quantized models, computed
	// in float from their values.
	KeptOutputs []string `json:"kept_outputs,omitempty"`
	// Runtime says which ONNX Runtime a quantized model needs when it holds 4-bit tensors
	// ("" otherwise).
	Runtime string `json:"runtime,omitempty"`
	// Grids counts a sharpq-quantized model's weight and activation grids by bit width, from
	// its sharpq.bits metadata ("" for other models): an --export-opset model stores 4-bit
	// grids in 8-bit types, which its tensor types do not show.
	Grids string `json:"grids,omitempty"`
	// Precision says the model computes in a half-precision type, which sharpq reads into
	// float32 (ir.PromoteToFloat32); "" for a float32 model.
	Precision string `json:"precision,omitempty"`
	// Normalisation is the input normalisation baked into the model ("" when none).
	Normalisation string `json:"input_normalisation,omitempty"`
	// Training says whether synthesis and reconstruction can differentiate the model: "ok",
	// or why not (the first node without a gradient rule).
	Training string  `json:"training"`
	Layers   []Layer `json:"quantizable_layers"` // a float model's quantizable layers, or a QDQ model's quantized ones
	Blocks   []Block `json:"blocks"`             // a float model's reconstruction blocks in graph order; empty for a QDQ model
	Residual int     `json:"residual_blocks"`    // how many of Blocks are residual
	// Memory is what a conversion of the model is expected to take (set by the caller).
	Memory *Memory `json:"convert_memory,omitempty"`
}

// Memory is convert's estimated peak resident memory (convert.EstimateMemory, SADAG) for
// Images synthetic images in generator batches of GenBatch, beside what the machine has
// available.
type Memory struct {
	// GenBatch to DiskBytes are convert's estimate, absent for a model convert refuses (one
	// without BatchNormalization statistics).
	GenBatch        int   `json:"gen_batch,omitempty"`
	Images          int   `json:"images,omitempty"`                     // synthetic images the estimate is for
	Bytes           int64 `json:"peak_bytes,omitempty"`                 // estimated peak resident memory
	PerImage        int64 `json:"bytes_per_batch_image,omitempty"`      // bytes each image of a generator batch adds to refinement
	ActivationBytes int64 `json:"activation_bytes_per_image,omitempty"` // bytes of the float model's intermediate values for one image
	// DiskBytes is the disk SADAG's synthesised generators take until refinement.
	DiskBytes int64 `json:"generator_disk_bytes,omitempty"`
	Available int64 `json:"available_bytes,omitempty"` // the machine's available memory in bytes (MemAvailable); 0 when unknown
	// FitsBatch is the largest generator batch within Available, when GenBatch is not.
	FitsBatch int `json:"gen_batch_within_available,omitempty"`
	// ReconPerImage is the memory block reconstruction holds per calibration image, beside
	// the image, at its peak (in block ReconBlock): quantize and convert keep every block's
	// inputs and output for all their images at once.
	ReconPerImage int64  `json:"recon_bytes_per_image,omitempty"`
	ReconBlock    string `json:"recon_peak_block,omitempty"` // name of the block where ReconPerImage peaks
}

// Tensor is a graph input or output; a dimension of -1 is dynamic (named in DimNames).
type Tensor struct {
	Name  string   `json:"name"`  // value name
	DType string   `json:"dtype"` // element type, e.g. "float32"
	Shape []int64  `json:"shape"` // dimensions, -1 where dynamic
	Dims  []string `json:"dims"`  // per dimension, its symbolic name or ""
}

// OpCount is how many nodes use one operator type.
type OpCount struct {
	Op    string `json:"op"`    // operator type, prefixed by "domain." outside the default domain
	Count int    `json:"count"` // number of nodes of that type
}

// Layer is one quantizable layer of a float model, or one quantized layer of a QDQ model.
type Layer struct {
	Node        string  `json:"node"`            // node name
	Op          string  `json:"op"`              // Conv, Gemm or MatMul
	Weight      string  `json:"weight"`          // weight initializer (a QDQ model's integer one)
	WeightShape []int64 `json:"weight_shape"`    // the weight's dimensions
	Group       int64   `json:"group,omitempty"` // a Conv's group attribute (1 by default); 0 for other ops
	// WeightType is the integer type of a QDQ model's weight (int4, int8, …); "" in a float
	// model.
	WeightType string `json:"weight_type,omitempty"`
}

// Block is one reconstruction block.
type Block struct {
	Name   string   `json:"name"`   // block name, "block00", "block01", …
	Kind   string   `json:"kind"`   // "residual" or "layer" (quantizer.BlockKind)
	Layers []string `json:"layers"` // node names of the block's quantizable layers
	Input  string   `json:"input"`  // the one value computed outside the block that it reads
	Output string   `json:"output"` // the value the block produces
}

// Model summarises m, which it does not modify: blocks, normalisation and the batch-1 shapes
// are found on a canonical copy (ir.FixBatch). Dynamic dimensions other than the batch must
// be fixed first.
func Model(m *ir.Model) (*Report, error) {
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	canonical, err := onnxio.Decode(data, "")
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if err := ir.FixBatch(canonical, 1); err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	g := m.Graph
	r := &Report{IRVersion: m.IRVersion, Opset: m.Opset(""), Producer: m.ProducerName + " " + m.ProducerVersion, Nodes: len(g.Nodes)}
	for _, v := range g.Inputs {
		r.Inputs = append(r.Inputs, tensorOf(v))
	}
	for _, v := range g.Outputs {
		r.Outputs = append(r.Outputs, tensorOf(v))
	}
	counts := map[string]int{}
	for _, n := range g.Nodes {
		op := n.OpType
		if n.Domain != "" {
			op = n.Domain + "." + op
		}
		counts[op]++
	}
	for op, c := range counts {
		r.Ops = append(r.Ops, OpCount{op, c})
	}
	sort.Slice(r.Ops, func(i, j int) bool {
		if r.Ops[i].Count != r.Ops[j].Count {
			return r.Ops[i].Count > r.Ops[j].Count
		}
		return r.Ops[i].Op < r.Ops[j].Op
	})
	r.Parameters = parameters(g)
	if d := halfPrecision(g); d != ir.Undefined {
		r.Precision = fmt.Sprintf("%s weights: read into float32, the type sharpq synthesises, trains and quantizes in; a quantized model computes in float32 between its integer layers and keeps this model's input and output types", d)
	}
	bn := quantizer.InspectBN(g)
	r.BNNodes, r.BNFolded = bn.Nodes, bn.FoldedLike
	if err := quantizer.CheckFloat(m); err != nil {
		r.Quantized = strings.TrimPrefix(err.Error(), "quantizer: ")
		if slices.ContainsFunc(g.Initializers, func(t *ir.Tensor) bool { return t.DType == ir.Int4 || t.DType == ir.Uint4 }) {
			r.Runtime = "int4/uint4 tensors: ONNX Runtime 1.19 or later (1.18 and earlier refuse them); --export-opset 13 writes the same grids in 8-bit types"
			if v := m.Opset(""); v > 21 {
				r.Runtime = fmt.Sprintf("int4/uint4 tensors at opset %d: an ONNX Runtime that runs opset %d (1.30 runs up to 26; 1.18 and earlier refuse 4-bit tensors)", v, v)
			}
		}
		r.Grids = grids(m)
	}
	switch {
	case r.Quantized != "":
		r.BNStatus = "none: the model is quantized already"
	case bn.Nodes > 0:
		r.BNStatus = fmt.Sprintf("%d BatchNormalization nodes with running statistics: ready for data-free synthesis", bn.Nodes)
		if k := quantizer.UnfoldableBN(canonical.Graph); k > 0 {
			r.BNStatus += fmt.Sprintf("; %d follow no Conv or Gemm to fold into (pre-activation BN) and stay float in the quantized model", k)
		}
	case bn.FoldedLike:
		r.BNStatus = "none: folded into Conv at export, or an architecture without BN (SqueezeNet, ConvNeXt), so data-free synthesis has no statistics to match (if it has BN, re-export from PyTorch with training=TrainingMode.PRESERVE, do_constant_folding=False; else quantize with real images)"
	default:
		r.BNStatus = "none: the model has no BatchNormalization"
	}
	if mean, std, ok := generator.InputNormalisation(canonical); ok {
		r.Normalisation = fmt.Sprintf("(x − %s)/%s per channel, baked into the model: feed it raw inputs (eval and quantize without --mean/--std)", floats(mean), floats(std))
	}
	if r.Quantized != "" {
		// Nothing to reconstruct or partition: what it holds is its quantized layers.
		r.Training = "not applicable: the model is quantized already"
		r.Layers = quantizedLayers(g)
		r.Blocks = []Block{}
		return r, nil
	}
	r.Training = "ok: every operator between input and output has a gradient rule"
	if err := quantizer.CheckTrainable(m); err != nil {
		r.Training = "no: " + err.Error() + " (convert, and quantize with reconstruction, refuse it; quantize --iters 0 runs it)"
	}
	cg := canonical.Graph
	for _, n := range cg.Nodes {
		if !quantizer.IsQuantizable(cg, n) {
			continue
		}
		w := cg.Initializer(n.Input(1))
		l := Layer{Node: n.Name, Op: n.OpType, Weight: w.Name, WeightShape: w.Shape}
		if n.OpType == "Conv" {
			l.Group = n.AttrInt("group", 1)
		}
		r.Layers = append(r.Layers, l)
	}
	blocks, err := quantizer.Partition(cg)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		bb := Block{Name: b.Name, Kind: string(b.Kind), Input: b.Input, Output: b.Output, Layers: []string{}}
		for _, l := range b.Layers {
			bb.Layers = append(bb.Layers, l.Name)
		}
		if b.Kind == quantizer.Residual {
			r.Residual++
		}
		r.Blocks = append(r.Blocks, bb)
	}
	return r, nil
}

// TensorOf describes v as the report lists inputs and outputs.
func TensorOf(v *ir.Value) Tensor { return tensorOf(v) }

func tensorOf(v *ir.Value) Tensor {
	t := Tensor{Name: v.Name, DType: v.DType.String(), Shape: v.Shape}
	for i := range v.Shape {
		name := ""
		if v.DimNames != nil {
			name = v.DimNames[i]
		}
		t.Dims = append(t.Dims, name)
	}
	return t
}

// ShapeString renders a shape with dynamic dimensions by name, e.g. [batch 1 32 32].
func (t Tensor) ShapeString() string {
	s := "["
	for i, d := range t.Shape {
		if i > 0 {
			s += " "
		}
		if d < 0 {
			if t.Dims[i] != "" {
				s += t.Dims[i]
			} else {
				s += "?"
			}
		} else {
			s += fmt.Sprint(d)
		}
	}
	return s + "]"
}

// halfPrecision returns the type of g's float16 or bfloat16 initializers, Undefined when it
// has none.
func halfPrecision(g *ir.Graph) ir.DType {
	for _, t := range g.Initializers {
		if t.DType == ir.Float16 || t.DType == ir.BFloat16 {
			return t.DType
		}
	}
	return ir.Undefined
}

// parameters counts the elements of float initializers and of the integer weights that
// DequantizeLinear nodes read, leaving out BatchNormalization's running statistics and the
// quantizers' scales and zero points, which are buffers rather than learned parameters.
func parameters(g *ir.Graph) int64 {
	buffers, weights := map[string]bool{}, map[string]bool{}
	for _, n := range g.Nodes {
		switch n.OpType {
		case "BatchNormalization":
			buffers[n.Input(3)], buffers[n.Input(4)] = true, true
		case "QuantizeLinear", "DequantizeLinear":
			buffers[n.Input(1)], buffers[n.Input(2)] = true, true
			if n.OpType == "DequantizeLinear" {
				weights[n.Input(0)] = true
			}
		}
	}
	var total int64
	for _, t := range g.Initializers {
		if (t.DType.IsFloat() || weights[t.Name]) && !buffers[t.Name] {
			total += t.Len()
		}
	}
	return total
}

// quantizedLayers lists the Conv, Gemm and MatMul nodes of a QDQ model whose weight is an
// integer initializer through a DequantizeLinear.
func quantizedLayers(g *ir.Graph) []Layer {
	producer := map[string]*ir.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	layers := []Layer{}
	for _, n := range g.Nodes {
		if n.OpType != "Conv" && n.OpType != "Gemm" && n.OpType != "MatMul" {
			continue
		}
		dq := producer[n.Input(1)]
		if dq == nil || dq.OpType != "DequantizeLinear" {
			continue
		}
		w := g.Initializer(dq.Input(0))
		if w == nil || !w.DType.IsInt() {
			continue
		}
		l := Layer{Node: n.Name, Op: n.OpType, Weight: w.Name, WeightShape: w.Shape, WeightType: w.DType.String()}
		if n.OpType == "Conv" {
			l.Group = n.AttrInt("group", 1)
		}
		layers = append(layers, l)
	}
	return layers
}

// floats formats per-channel values, one when they are all equal.
func floats(v []float32) string {
	same := true
	for _, x := range v {
		same = same && x == v[0]
	}
	if same {
		return fmt.Sprintf("%.4g", v[0])
	}
	return fmt.Sprintf("%.4g", v)
}

// grids summarises m's sharpq.bits metadata: "weights 4 bits ×18, 8 bits ×2; activations …".
func grids(m *ir.Model) string {
	type entry struct {
		Bits int `json:"bits"`
	}
	var d struct {
		Weights     []entry `json:"weights"`
		Activations []entry `json:"activations"`
	}
	for _, kv := range m.Metadata {
		if kv.Key == "sharpq.bits" && json.Unmarshal([]byte(kv.Value), &d) != nil {
			return ""
		}
	}
	if len(d.Weights) == 0 {
		return ""
	}
	count := func(entries []entry) string {
		n := map[int]int{}
		for _, e := range entries {
			n[e.Bits]++
		}
		var parts []string
		for _, b := range slices.Sorted(maps.Keys(n)) {
			parts = append(parts, fmt.Sprintf("%d bits ×%d", b, n[b]))
		}
		return strings.Join(parts, ", ")
	}
	return "weights " + count(d.Weights) + "; activations " + count(d.Activations)
}
