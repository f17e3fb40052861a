package onnxio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/sharpq/sharpq/internal/atomicfile"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio/internal/onnxpb"
)

// ErrNotModel is returned (wrapped) when bytes parse as protobuf but hold no ONNX model.
var ErrNotModel = errors.New("not an ONNX model")

// ErrCorrupt is returned (wrapped) when bytes are not valid protobuf, e.g. a truncated file.
var ErrCorrupt = errors.New("truncated or corrupt protobuf")

// Read loads an ONNX file, resolving external data relative to the file's folder, and checks
// that the graph is well formed and uses only supported operators.
func Read(path string) (*ir.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnxio: %w", err)
	}
	m, err := decode(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("onnxio: %s: %w", path, err)
	}
	return m, nil
}

// Decode parses an ONNX model held in memory. External data is resolved relative to baseDir
// ("" forbids external data). Calls of model-local functions (ModelProto.functions, as
// PyTorch's exporter writes before optimising) are replaced by the functions' bodies.
func Decode(data []byte, baseDir string) (*ir.Model, error) {
	m, err := decode(data, baseDir)
	if err != nil {
		return nil, fmt.Errorf("onnxio: %w", err)
	}
	return m, nil
}

func decode(data []byte, baseDir string) (*ir.Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		if looksLikeText(data) {
			return nil, fmt.Errorf("%w: a text file (it begins %q), not a binary protobuf", ErrNotModel, firstLine(data))
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if mp.Graph == nil || (mp.IrVersion == nil && len(mp.OpsetImport) == 0) {
		return nil, fmt.Errorf("%w: no graph or no IR version/opset", ErrNotModel)
	}
	if err := inlineFunctions(&mp); err != nil {
		return nil, err
	}
	m := &ir.Model{
		IRVersion:       mp.GetIrVersion(),
		ProducerName:    mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
		Domain:          mp.GetDomain(),
		ModelVersion:    mp.GetModelVersion(),
		DocString:       mp.GetDocString(),
	}
	for _, o := range mp.GetOpsetImport() {
		m.Opsets = append(m.Opsets, ir.Opset{Domain: o.GetDomain(), Version: o.GetVersion()})
	}
	for _, kv := range mp.GetMetadataProps() {
		m.Metadata = append(m.Metadata, ir.KeyValue{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	g, err := decodeGraph(mp.Graph, baseDir)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	if err := ir.Validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeGraph(gp *onnxpb.GraphProto, baseDir string) (*ir.Graph, error) {
	g := ir.NewGraph(gp.GetName())
	g.DocString = gp.GetDocString()
	for _, tp := range gp.GetInitializer() {
		t, err := decodeTensor(tp, baseDir)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		if t.Name == "" {
			return nil, errors.New("initializer without a name")
		}
		if g.Initializer(t.Name) != nil {
			return nil, fmt.Errorf("initializer %q defined twice", t.Name)
		}
		g.AddInitializer(t)
	}
	for _, vp := range gp.GetInput() {
		if g.Initializer(vp.GetName()) != nil {
			continue // IR < 4 lists initializers as inputs too
		}
		v, err := decodeValue(vp)
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		g.Inputs = append(g.Inputs, v)
		g.ValueInfo[v.Name] = v
	}
	for _, vp := range gp.GetOutput() {
		v, err := decodeValue(vp)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		g.Outputs = append(g.Outputs, v)
	}
	for _, vp := range gp.GetValueInfo() {
		v, err := decodeValue(vp)
		if err != nil {
			return nil, fmt.Errorf("value_info: %w", err)
		}
		if _, ok := g.ValueInfo[v.Name]; !ok {
			g.ValueInfo[v.Name] = v
		}
	}
	for i, np := range gp.GetNode() {
		n := &ir.Node{
			Name:    np.GetName(),
			OpType:  np.GetOpType(),
			Domain:  np.GetDomain(),
			Inputs:  append([]string{}, np.GetInput()...),
			Outputs: append([]string{}, np.GetOutput()...),
			Doc:     np.GetDocString(),
		}
		if n.Domain == "ai.onnx" {
			n.Domain = ""
		}
		if n.OpType == "" {
			return nil, fmt.Errorf("node %d (%q) has no op type", i, n.Name)
		}
		for _, ap := range np.GetAttribute() {
			a, err := decodeAttr(ap, baseDir)
			if err != nil {
				return nil, fmt.Errorf("node %s attribute %q: %w", n, ap.GetName(), err)
			}
			n.Attrs = append(n.Attrs, a)
		}
		g.Nodes = append(g.Nodes, n)
	}
	return g, nil
}

func decodeValue(vp *onnxpb.ValueInfoProto) (*ir.Value, error) {
	v := &ir.Value{Name: vp.GetName()}
	if v.Name == "" {
		return nil, errors.New("value without a name")
	}
	tt := vp.GetType().GetTensorType()
	if vp.GetType() != nil && tt == nil {
		return nil, fmt.Errorf("value %q is not a tensor (sequences, maps and optionals are not supported)", v.Name)
	}
	v.DType = ir.DType(tt.GetElemType())
	if sp := tt.GetShape(); sp != nil {
		v.Shape = []int64{}
		named := false
		names := []string{}
		for _, d := range sp.GetDim() {
			switch d.Value.(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				v.Shape = append(v.Shape, d.GetDimValue())
				names = append(names, "")
			default:
				v.Shape = append(v.Shape, -1)
				names = append(names, d.GetDimParam())
				named = true
			}
		}
		if named {
			v.DimNames = names
		}
	}
	return v, nil
}

func decodeAttr(ap *onnxpb.AttributeProto, baseDir string) (ir.Attr, error) {
	a := ir.Attr{Name: ap.GetName(), Type: ir.AttrType(ap.GetType())}
	switch ap.GetType() {
	case onnxpb.AttributeProto_FLOAT:
		a.F = ap.GetF()
	case onnxpb.AttributeProto_INT:
		a.I = ap.GetI()
	case onnxpb.AttributeProto_STRING:
		a.S = string(ap.GetS())
	case onnxpb.AttributeProto_TENSOR:
		if ap.GetT() == nil {
			return a, errors.New("tensor attribute without a tensor")
		}
		t, err := decodeTensor(ap.GetT(), baseDir)
		if err != nil {
			return a, err
		}
		a.T = t
	case onnxpb.AttributeProto_FLOATS:
		a.Floats = append([]float32{}, ap.GetFloats()...)
	case onnxpb.AttributeProto_INTS:
		a.Ints = append([]int64{}, ap.GetInts()...)
	case onnxpb.AttributeProto_STRINGS:
		for _, s := range ap.GetStrings() {
			a.Strings = append(a.Strings, string(s))
		}
	default:
		return a, fmt.Errorf("attribute type %s is not supported", ap.GetType())
	}
	return a, nil
}

// Encode serialises m deterministically: the same IR always gives the same bytes.
func Encode(m *ir.Model) ([]byte, error) {
	mp, err := encodeModel(m)
	if err != nil {
		return nil, fmt.Errorf("onnxio: encode: %w", err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnxio: encode: %w", err)
	}
	return b, nil
}

func encodeModel(m *ir.Model) (*onnxpb.ModelProto, error) {
	if m.Graph == nil {
		return nil, errors.New("model has no graph")
	}
	mp := &onnxpb.ModelProto{IrVersion: int64Ptr(m.IRVersion)}
	if m.ProducerName != "" {
		mp.ProducerName = strPtr(m.ProducerName)
	}
	if m.ProducerVersion != "" {
		mp.ProducerVersion = strPtr(m.ProducerVersion)
	}
	if m.Domain != "" {
		mp.Domain = strPtr(m.Domain)
	}
	if m.ModelVersion != 0 {
		mp.ModelVersion = int64Ptr(m.ModelVersion)
	}
	if m.DocString != "" {
		mp.DocString = strPtr(m.DocString)
	}
	for _, o := range m.Opsets {
		mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: strPtr(o.Domain), Version: int64Ptr(o.Version)})
	}
	for _, kv := range m.Metadata {
		mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: strPtr(kv.Key), Value: strPtr(kv.Value)})
	}
	g := m.Graph
	gp := &onnxpb.GraphProto{Name: strPtr(g.Name)}
	if g.DocString != "" {
		gp.DocString = strPtr(g.DocString)
	}
	for _, t := range g.Initializers {
		tp, err := encodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		gp.Initializer = append(gp.Initializer, tp)
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, encodeValue(v))
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, encodeValue(v))
	}
	for _, n := range g.Nodes {
		np := &onnxpb.NodeProto{
			Input:  append([]string{}, n.Inputs...),
			Output: append([]string{}, n.Outputs...),
			OpType: strPtr(n.OpType),
		}
		if n.Name != "" {
			np.Name = strPtr(n.Name)
		}
		if n.Domain != "" {
			np.Domain = strPtr(n.Domain)
		}
		if n.Doc != "" {
			np.DocString = strPtr(n.Doc)
		}
		for i := range n.Attrs {
			ap, err := encodeAttr(&n.Attrs[i])
			if err != nil {
				return nil, fmt.Errorf("node %s attribute %q: %w", n, n.Attrs[i].Name, err)
			}
			np.Attribute = append(np.Attribute, ap)
		}
		gp.Node = append(gp.Node, np)
	}
	mp.Graph = gp
	return mp, nil
}

func encodeValue(v *ir.Value) *onnxpb.ValueInfoProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32Ptr(int32(v.DType))}
	if v.Shape != nil {
		sp := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{}}
		for i, d := range v.Shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d >= 0:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			case v.DimNames != nil && i < len(v.DimNames) && v.DimNames[i] != "":
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v.DimNames[i]}
			}
			sp.Dim = append(sp.Dim, dim)
		}
		tt.Shape = sp
	}
	return &onnxpb.ValueInfoProto{
		Name: strPtr(v.Name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}},
	}
}

func encodeAttr(a *ir.Attr) (*onnxpb.AttributeProto, error) {
	ap := &onnxpb.AttributeProto{Name: strPtr(a.Name)}
	typ := onnxpb.AttributeProto_AttributeType(a.Type)
	ap.Type = &typ
	switch a.Type {
	case ir.AttrFloat:
		ap.F = f32Ptr(a.F)
	case ir.AttrInt:
		ap.I = int64Ptr(a.I)
	case ir.AttrString:
		ap.S = []byte(a.S)
	case ir.AttrTensor:
		tp, err := encodeTensor(a.T)
		if err != nil {
			return nil, err
		}
		ap.T = tp
	case ir.AttrFloats:
		ap.Floats = append([]float32{}, a.Floats...)
	case ir.AttrInts:
		ap.Ints = append([]int64{}, a.Ints...)
	case ir.AttrStrings:
		for _, s := range a.Strings {
			ap.Strings = append(ap.Strings, []byte(s))
		}
	default:
		return nil, fmt.Errorf("attribute type %d is not supported", a.Type)
	}
	return ap, nil
}

// Write encodes m and replaces path atomically: the data goes to a temporary file in the same
// folder, is synced, and is renamed over path only when complete, so a failure (full disk,
// Ctrl-C) never leaves a half-written model behind.
func Write(path string, m *ir.Model) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("onnxio: %w", err)
	}
	return nil
}

// looksLikeText reports whether data begins with text (valid UTF-8 without control
// characters other than tab and line breaks); an ONNX file's first byte is a control
// character (0x08, the ir_version tag).
func looksLikeText(data []byte) bool {
	head := data[:min(len(data), 512)]
	for i := 0; i < utf8.UTFMax-1 && len(data) > len(head) && !utf8.Valid(head); i++ {
		head = head[:len(head)-1] // a rune cut at the 512th byte
	}
	if len(head) == 0 || !utf8.Valid(head) {
		return false
	}
	for _, b := range head {
		if b < 0x20 && b != '\t' && b != '\n' && b != '\r' {
			return false
		}
	}
	return true
}

// firstLine is data's first line, cut to 40 bytes.
func firstLine(data []byte) string {
	line, _, _ := strings.Cut(string(data[:min(len(data), 40)]), "\n")
	return line
}
