package ir

import (
	"fmt"
	"math"
	"slices"
)

// toChannelsFirst is the Transpose permutation from [N, H, W, C] to [N, C, H, W].
var toChannelsFirst = []int64{0, 3, 1, 2}

// ChannelsFirstInput rewrites a model whose single input is channels-last ([N, H, W, C]) and
// read only by Transposes to channels-first, as TensorFlow converters export Keras models,
// into the same function of a channels-first input ([N, C, H, W]) without those Transposes
// (a Cast between the input and the Transposes, as a float16 model with a float32 interface
// has, stays).
// sharpq synthesises, calibrates and evaluates channels-first; ChannelsLastInput puts the
// original interface back on a model made from the result (the quantized one). It reports
// whether the model had such an input; any other model is left as it is.
func ChannelsFirstInput(m *Model) bool {
	g := m.Graph
	if len(g.Inputs) != 1 || len(g.Inputs[0].Shape) != 4 {
		return false
	}
	in := g.Inputs[0]
	// A half-precision export behind a float32 interface casts the input first: the
	// Transposes then read the Cast, which reads the same values in either layout.
	read := in.Name
	consumers := g.Consumers()
	if r := consumers[read]; len(r) == 1 && r[0].OpType == "Cast" && r[0].Domain == "" && len(r[0].Outputs) == 1 && !g.IsOutput(r[0].Outputs[0]) {
		read = r[0].Outputs[0]
	}
	readers := consumers[read]
	if len(readers) == 0 || g.IsOutput(in.Name) {
		return false
	}
	for _, n := range readers {
		if n.OpType != "Transpose" || n.Domain != "" || len(n.Outputs) != 1 || g.IsOutput(n.Outputs[0]) ||
			!slices.Equal(n.AttrInts("perm", nil), toChannelsFirst) {
			return false
		}
	}
	var nodes []*Node
	for _, n := range g.Nodes {
		if slices.Contains(readers, n) {
			delete(g.ValueInfo, n.Outputs[0])
			continue
		}
		nodes = append(nodes, n)
	}
	g.Nodes = nodes
	for _, n := range readers {
		g.Rename(n.Outputs[0], read)
	}
	if read != in.Name {
		delete(g.ValueInfo, read) // its layout changed with the input's
	}
	in.Shape = permute(in.Shape, toChannelsFirst)
	in.DimNames = permute(in.DimNames, toChannelsFirst)
	g.ValueInfo[in.Name] = in
	return true
}

// ChannelsLastInput gives m's single channels-first input ([N, C, H, W]) a channels-last
// interface ([N, H, W, C]) and a Transpose to channels-first: the inverse of
// ChannelsFirstInput, for the model written from one it rewrote.
func ChannelsLastInput(m *Model) error {
	g := m.Graph
	if len(g.Inputs) != 1 || len(g.Inputs[0].Shape) != 4 {
		return fmt.Errorf("ir: a channels-last input needs one input of rank 4, the model has %d inputs", len(g.Inputs))
	}
	in := g.Inputs[0]
	inner := g.UniqueName(in.Name + "_nchw")
	g.Rename(in.Name, inner)
	g.ValueInfo[inner] = &Value{Name: inner, DType: in.DType, Shape: slices.Clone(in.Shape), DimNames: slices.Clone(in.DimNames)}
	toLast := []int64{0, 2, 3, 1}
	in.Shape = permute(in.Shape, toLast)
	in.DimNames = permute(in.DimNames, toLast)
	g.ValueInfo[in.Name] = in
	g.Nodes = append([]*Node{{Name: g.UniqueName("input_to_nchw"), OpType: "Transpose", Inputs: []string{in.Name}, Outputs: []string{inner},
		Attrs: []Attr{IntsAttr("perm", toChannelsFirst...)}}}, g.Nodes...)
	return nil
}

// permute returns x's elements in the order perm gives (x itself when it is not rank 4, as
// DimNames may be empty).
func permute[T any](x []T, perm []int64) []T {
	if len(x) != len(perm) {
		return x
	}
	out := make([]T, len(x))
	for i, p := range perm {
		out[i] = x[p]
	}
	return out
}

// pixelScale maps [0,1] to the 0–255 an 8-bit pixel input holds.
const pixelScale = 255

// FloatPixelInput rewrites a model whose single input is 8-bit pixels (uint8, 0 to 255) read
// only by Casts to float32, as exports with their preprocessing baked in take raw image
// bytes, into the same function of a float32 input in [0,1] (each Cast becomes a Mul by 255),
// the range sharpq synthesises, calibrates and evaluates images in. IntegerPixelInput puts
// the uint8 interface back on a model made from the result. It reports whether the model had
// such an input; any other model is left as it is.
func FloatPixelInput(m *Model) bool {
	g := m.Graph
	if len(g.Inputs) != 1 || g.Inputs[0].DType != Uint8 || g.IsOutput(g.Inputs[0].Name) {
		return false
	}
	in := g.Inputs[0]
	readers := g.Consumers()[in.Name]
	if len(readers) == 0 {
		return false
	}
	for _, n := range readers {
		if n.OpType != "Cast" || n.Domain != "" || DType(n.AttrInt("to", 0)) != Float32 {
			return false
		}
	}
	scale := NewFloat32(g.UniqueName(in.Name+"_pixel_scale"), []int64{}, []float32{pixelScale})
	g.AddInitializer(scale)
	for _, n := range readers {
		n.OpType, n.Attrs = "Mul", nil
		n.Inputs = []string{in.Name, scale.Name}
	}
	in.DType = Float32
	g.ValueInfo[in.Name] = in
	return true
}

// IntegerPixelInput gives m's single float32 input, pixels in [0,1], a uint8 interface of
// pixels 0 to 255 and a Cast and a division by 255 to what the graph reads: the inverse of
// FloatPixelInput, for the model written from one it rewrote. A Mul by 255 that reads the
// input, as FloatPixelInput leaves, becomes the Cast again.
func IntegerPixelInput(m *Model) error {
	g := m.Graph
	if len(g.Inputs) != 1 || g.Inputs[0].DType != Float32 {
		return fmt.Errorf("ir: an 8-bit pixel input needs one float32 input, the model has %d inputs", len(g.Inputs))
	}
	in := g.Inputs[0]
	in.DType = Uint8
	g.ValueInfo[in.Name] = in
	var scaled []*Node
	for _, n := range g.Consumers()[in.Name] {
		if k := scalarConstant(g, n, in.Name); n.OpType == "Mul" && n.Domain == "" && k == pixelScale {
			scaled = append(scaled, n)
		}
	}
	if len(scaled) == len(g.Consumers()[in.Name]) {
		for _, n := range scaled {
			n.OpType, n.Inputs, n.Attrs = "Cast", []string{in.Name}, []Attr{IntAttr("to", int64(Float32))}
		}
		return nil
	}
	// Something else reads the input: cast it once and bring the values back to [0,1].
	cast, unit := g.UniqueName(in.Name+"_float"), g.UniqueName(in.Name+"_unit")
	g.Rename(in.Name, unit)
	scale := NewFloat32(g.UniqueName(in.Name+"_pixel_scale"), []int64{}, []float32{pixelScale})
	g.AddInitializer(scale)
	g.Nodes = append([]*Node{
		{Name: g.UniqueName(in.Name + "_cast"), OpType: "Cast", Inputs: []string{in.Name}, Outputs: []string{cast}, Attrs: []Attr{IntAttr("to", int64(Float32))}},
		{Name: g.UniqueName(in.Name + "_to_unit"), OpType: "Div", Inputs: []string{cast, scale.Name}, Outputs: []string{unit}},
	}, g.Nodes...)
	return nil
}

// scalarConstant returns the value of the one-element float32 initializer n reads beside
// value, or NaN.
func scalarConstant(g *Graph, n *Node, value string) float32 {
	if len(n.Inputs) != 2 {
		return float32(math.NaN())
	}
	other := n.Inputs[0]
	if other == value {
		other = n.Inputs[1]
	}
	t := g.Initializer(other)
	if t == nil || t.DType != Float32 || len(t.F32) != 1 {
		return float32(math.NaN())
	}
	return t.F32[0]
}
