package quantizer

import (
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
)

// cloneModel deep-copies m through its encoding, so transformations never touch the input.
func cloneModel(m *ir.Model) (*ir.Model, error) {
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, err
	}
	c, err := onnxio.Decode(data, "")
	if err != nil {
		return nil, err
	}
	if err := ir.InferShapes(c); err != nil {
		return nil, err
	}
	return c, nil
}
