package autodiff

import (
	"fmt"
	"testing"

	"github.com/sharpq/sharpq/ir"
)

// Conv and ConvTranspose run in float32 only on ONNX Runtime's CPU provider (no double
// kernels), so these checks are float32. Conv is linear in each of its inputs, so central
// differences are exact at any step apart from rounding: a large step (0.5) keeps float32
// rounding small next to the difference, and 1e-3 relative to max |fd| is a tight bound.
var convFD = fdOpts{eps: 0.5, tol: 1e-3}

func TestConvGrad(t *testing.T) {
	cases := []struct {
		name    string
		x, w    []int64
		attrs   []ir.Attr
		bias    bool
		autoPad string
	}{
		{name: "3x3 s1 p1", x: []int64{2, 3, 5, 5}, w: []int64{4, 3, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "3x3 s2 p1 even", x: []int64{2, 3, 6, 6}, w: []int64{4, 3, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "3x3 s2 p1 odd", x: []int64{1, 2, 7, 5}, w: []int64{3, 2, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "3x3 s2 p0 unused row", x: []int64{2, 2, 6, 6}, w: []int64{2, 2, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2)}},
		{name: "asymmetric pads", x: []int64{2, 2, 5, 6}, w: []int64{3, 2, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("pads", 0, 1, 2, 0)}},
		{name: "asymmetric pads s2", x: []int64{1, 2, 6, 7}, w: []int64{3, 2, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 0, 1, 1, 0)}},
		{name: "dilation 2", x: []int64{2, 2, 7, 7}, w: []int64{3, 2, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("dilations", 2, 2), ir.IntsAttr("pads", 2, 2, 2, 2)}},
		{name: "dilation 2 stride 2", x: []int64{1, 2, 8, 8}, w: []int64{2, 2, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("dilations", 2, 2), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "groups 2", x: []int64{2, 4, 5, 5}, w: []int64{6, 2, 3, 3},
			attrs: []ir.Attr{ir.IntAttr("group", 2), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "depthwise", x: []int64{2, 4, 6, 6}, w: []int64{4, 1, 3, 3},
			attrs: []ir.Attr{ir.IntAttr("group", 4), ir.IntsAttr("pads", 1, 1, 1, 1), ir.IntsAttr("strides", 2, 2)}},
		{name: "depthwise multiplier 2", x: []int64{2, 3, 5, 5}, w: []int64{6, 1, 3, 3},
			attrs: []ir.Attr{ir.IntAttr("group", 3), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "1x1 s2", x: []int64{2, 3, 5, 5}, w: []int64{4, 3, 1, 1},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2)}},
		{name: "3x2 kernel mixed", x: []int64{2, 2, 7, 6}, w: []int64{3, 2, 3, 2},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 1), ir.IntsAttr("dilations", 1, 2), ir.IntsAttr("pads", 1, 0, 1, 1)}},
		{name: "SAME_UPPER s2", x: []int64{2, 2, 6, 5}, w: []int64{3, 2, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2, 2)}, autoPad: "SAME_UPPER"},
		{name: "bias", x: []int64{2, 3, 4, 4}, w: []int64{5, 3, 3, 3}, bias: true,
			attrs: []ir.Attr{ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "1-D", x: []int64{2, 3, 9}, w: []int64{4, 3, 3},
			attrs: []ir.Attr{ir.IntsAttr("strides", 2), ir.IntsAttr("pads", 1, 0)}},
	}
	forms := map[int]string{dwIm2col: "im2col", dwSwapped: "swapped"}
	for _, form := range []int{dwIm2col, dwSwapped} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/dW %s", c.name, forms[form]), func(t *testing.T) {
				dwOverride = form
				defer func() { dwOverride = -1 }()
				tg := newGraph(ir.Float32, 13)
				ins := []string{tg.in("x", c.x...), tg.in("w", c.w...)}
				if c.bias {
					ins = append(ins, tg.in("b", c.w[0]))
				}
				attrs := c.attrs
				if c.autoPad != "" {
					attrs = append(attrs, ir.StringAttr("auto_pad", c.autoPad))
				}
				y := tg.op("Conv", ins, attrs...)
				checkGrad(t, tg, y, convFD)
			})
		}
	}
}
