package ir

import (
	bin "encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/x448/float16"
)

// PromoteToFloat32 rewrites a model that computes in float16 or bfloat16 (as onnxconverter-
// common's float16 conversion and PyTorch's export of a half-precision model write them) to
// compute in float32, the type sharpq synthesises, trains and quantizes in: constants widen
// exactly, values and graph inputs and outputs change type, and Casts to the narrow type
// become Casts to float32. It reports whether anything changed. A Cast that is left casting a
// float32 value to float32 is bypassed by Canonicalize.
func PromoteToFloat32(m *Model) (bool, error) {
	g := m.Graph
	changed := false
	for i, t := range g.Initializers {
		w, ok, err := widen(t)
		if err != nil {
			return false, err
		}
		if ok {
			g.Initializers[i] = w
			changed = true
		}
	}
	if changed {
		g.Index()
	}
	for _, n := range g.Nodes {
		for i := range n.Attrs {
			a := &n.Attrs[i]
			switch {
			case a.Type == AttrTensor && a.T != nil:
				w, ok, err := widen(a.T)
				if err != nil {
					return false, fmt.Errorf("node %s: %w", n, err)
				}
				if ok {
					a.T, changed = w, true
				}
			case a.Type == AttrInt && (n.OpType == "Cast" && a.Name == "to" || a.Name == "dtype") && narrowFloat(DType(a.I)):
				// Cast's target, and RandomNormal's/EyeLike's output type.
				a.I, changed = int64(Float32), true
			}
		}
	}
	for _, vs := range [][]*Value{g.Inputs, g.Outputs} {
		for _, v := range vs {
			if narrowFloat(v.DType) {
				v.DType, changed = Float32, true
			}
		}
	}
	for _, v := range g.ValueInfo {
		if narrowFloat(v.DType) {
			v.DType, changed = Float32, true
		}
	}
	return changed, nil
}

// narrowFloat reports whether d is one of the 16-bit float types PromoteToFloat32 widens.
func narrowFloat(d DType) bool { return d == Float16 || d == BFloat16 }

// widen returns a float32 copy of a float16 or bfloat16 tensor, and false for any other.
func widen(t *Tensor) (*Tensor, bool, error) {
	if !narrowFloat(t.DType) {
		return t, false, nil
	}
	n := t.Len()
	if int64(len(t.Raw)) != 2*n {
		return nil, false, fmt.Errorf("tensor %q (%s): shape %v holds %d elements, raw data has %d bytes", t.Name, t.DType, t.Shape, n, len(t.Raw))
	}
	out := make([]float32, n)
	for i := range out {
		bits := bin.LittleEndian.Uint16(t.Raw[2*i:])
		if t.DType == BFloat16 {
			out[i] = math.Float32frombits(uint32(bits) << 16)
		} else {
			out[i] = float16.Frombits(bits).Float32()
		}
	}
	return NewFloat32(t.Name, t.Shape, out), true, nil
}

// NarrowToFloat16 returns a float16 copy of a float32 tensor (rounded to nearest even), the
// form a half-precision export stores its weights in.
func NarrowToFloat16(t *Tensor) *Tensor {
	raw := make([]byte, 2*len(t.F32))
	for i, v := range t.F32 {
		bin.LittleEndian.PutUint16(raw[2*i:], float16.Fromfloat32(v).Bits())
	}
	return &Tensor{Name: t.Name, DType: Float16, Shape: slices.Clone(t.Shape), Raw: raw}
}

// IOTypes returns the element type of each graph input and output, by name.
func IOTypes(m *Model) map[string]DType {
	types := map[string]DType{}
	for _, vs := range [][]*Value{m.Graph.Inputs, m.Graph.Outputs} {
		for _, v := range vs {
			types[v.Name] = v.DType
		}
	}
	return types
}

// SetIOTypes gives the float32 graph inputs and outputs that types names another float type
// that type, with a Cast between each and the computation, so that a model made from a
// promoted one (PromoteToFloat32) keeps its original interface. Names types lacks, and
// values already of the given type, are left alone.
func SetIOTypes(m *Model, types map[string]DType) error {
	g := m.Graph
	var front, back []*Node
	for _, in := range g.Inputs {
		want, ok := types[in.Name]
		if !ok || want == in.DType {
			continue
		}
		if in.DType != Float32 || !want.IsFloat() {
			return fmt.Errorf("ir: input %q is %s; only a float32 input can be given type %s", in.Name, in.DType, want)
		}
		inner := g.UniqueName(in.Name + "_float32")
		g.Rename(in.Name, inner)
		g.ValueInfo[inner] = &Value{Name: inner, DType: Float32, Shape: slices.Clone(in.Shape), DimNames: slices.Clone(in.DimNames)}
		in.DType = want
		g.ValueInfo[in.Name] = in
		front = append(front, &Node{Name: g.UniqueName(in.Name + "_cast"), OpType: "Cast", Inputs: []string{in.Name}, Outputs: []string{inner},
			Attrs: []Attr{IntAttr("to", int64(Float32))}})
	}
	for _, out := range g.Outputs {
		want, ok := types[out.Name]
		if !ok || want == out.DType {
			continue
		}
		if out.DType != Float32 || !want.IsFloat() {
			return fmt.Errorf("ir: output %q is %s; only a float32 output can be given type %s", out.Name, out.DType, want)
		}
		if g.Input(out.Name) != nil || g.Initializer(out.Name) != nil {
			return fmt.Errorf("ir: output %q is not computed by a node", out.Name)
		}
		name := out.Name
		inner := g.UniqueName(name + "_float32")
		renameProducedValue(g, name, inner) // renames the graph output too
		out.Name = name
		g.ValueInfo[inner] = &Value{Name: inner, DType: Float32, Shape: slices.Clone(out.Shape), DimNames: slices.Clone(out.DimNames)}
		out.DType = want
		g.ValueInfo[name] = out
		back = append(back, &Node{Name: g.UniqueName(name + "_cast"), OpType: "Cast", Inputs: []string{inner}, Outputs: []string{name},
			Attrs: []Attr{IntAttr("to", int64(want))}})
	}
	g.Nodes = append(append(front, g.Nodes...), back...)
	return nil
}
