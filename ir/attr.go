package ir

import "fmt"

// AttrType is the kind of value an attribute holds (ONNX's AttributeType numbers).
type AttrType int32

// Attribute kinds. Graph-valued attributes (If, Loop) are not supported by sharpq.
const (
	AttrFloat   AttrType = 1
	AttrInt     AttrType = 2
	AttrString  AttrType = 3
	AttrTensor  AttrType = 4
	AttrFloats  AttrType = 6
	AttrInts    AttrType = 7
	AttrStrings AttrType = 8
)

// Attr is one node attribute; the field matching Type holds the value.
type Attr struct {
	Name    string    // attribute name, e.g. "strides"
	Type    AttrType  // which of the fields below holds the value
	F       float32   // value of an AttrFloat
	I       int64     // value of an AttrInt
	S       string    // value of an AttrString
	T       *Tensor   // value of an AttrTensor
	Floats  []float32 // value of an AttrFloats
	Ints    []int64   // value of an AttrInts
	Strings []string  // value of an AttrStrings
}

// IntAttr returns an int attribute.
func IntAttr(name string, v int64) Attr { return Attr{Name: name, Type: AttrInt, I: v} }

// FloatAttr returns a float attribute.
func FloatAttr(name string, v float32) Attr { return Attr{Name: name, Type: AttrFloat, F: v} }

// IntsAttr returns an ints attribute.
func IntsAttr(name string, v ...int64) Attr {
	return Attr{Name: name, Type: AttrInts, Ints: append([]int64{}, v...)}
}

// StringAttr returns a string attribute.
func StringAttr(name, v string) Attr { return Attr{Name: name, Type: AttrString, S: v} }

// TensorAttr returns a tensor attribute.
func TensorAttr(name string, t *Tensor) Attr { return Attr{Name: name, Type: AttrTensor, T: t} }

// Attr returns the attribute named name, or nil.
func (n *Node) Attr(name string) *Attr {
	for i := range n.Attrs {
		if n.Attrs[i].Name == name {
			return &n.Attrs[i]
		}
	}
	return nil
}

// SetAttr sets (or adds) an attribute.
func (n *Node) SetAttr(a Attr) {
	for i := range n.Attrs {
		if n.Attrs[i].Name == a.Name {
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

// AttrInt returns the int attribute name, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.I
	}
	return def
}

// AttrFloat returns the float attribute name, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.F
	}
	return def
}

// AttrString returns the string attribute name, or def when absent.
func (n *Node) AttrString(name, def string) string {
	if a := n.Attr(name); a != nil {
		return a.S
	}
	return def
}

// AttrInts returns the ints attribute name, or def when absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return def
}

// String formats the attribute as name=value for messages.
func (a *Attr) String() string {
	switch a.Type {
	case AttrFloat:
		return fmt.Sprintf("%s=%g", a.Name, a.F)
	case AttrInt:
		return fmt.Sprintf("%s=%d", a.Name, a.I)
	case AttrString:
		return fmt.Sprintf("%s=%q", a.Name, a.S)
	case AttrInts:
		return fmt.Sprintf("%s=%v", a.Name, a.Ints)
	case AttrFloats:
		return fmt.Sprintf("%s=%v", a.Name, a.Floats)
	}
	return a.Name
}
