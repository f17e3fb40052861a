package autodiff

import (
	"testing"

	"github.com/sharpq/sharpq/ir"
)

// MaxPool runs in float64 on ONNX Runtime's CPU provider. Random inputs have no ties, and a
// step of 1e-6 almost never reorders a window, so central differences are exact to ~1e-9.
func TestMaxPoolGrad(t *testing.T) {
	cases := []struct {
		name  string
		x     []int64
		attrs []ir.Attr
		opset int64
	}{
		{name: "2x2 s2", x: []int64{2, 3, 6, 6}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 2), ir.IntsAttr("strides", 2, 2)}},
		{name: "3x3 s2 p1 overlapping", x: []int64{2, 2, 7, 7}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "3x3 s1 p1 opset 16", x: []int64{1, 2, 5, 5}, opset: 16, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "2x2 dilation 2", x: []int64{2, 2, 6, 6}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 2), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("dilations", 2, 2)}},
		{name: "ceil mode", x: []int64{2, 2, 7, 5}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 2), ir.IntsAttr("strides", 2, 2), ir.IntAttr("ceil_mode", 1)}},
		{name: "asymmetric pads", x: []int64{1, 2, 5, 6}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 3), ir.IntsAttr("strides", 2, 3), ir.IntsAttr("pads", 1, 0, 0, 1)}},
		{name: "1-D", x: []int64{2, 3, 9}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3), ir.IntsAttr("strides", 3)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opset := c.opset
			if opset == 0 {
				opset = 13
			}
			tg := newGraph(ir.Float64, opset)
			y := tg.op("MaxPool", []string{tg.in("x", c.x...)}, c.attrs...)
			checkGrad(t, tg, y, fdOpts{eps: 1e-6, tol: 1e-6})
		})
	}
	// GlobalMaxPool runs in float32 only; the drawn inputs' largest two values per channel lie
	// further apart than the step, and the function is linear on either side of a tie.
	t.Run("global", func(t *testing.T) {
		tg := newGraph(ir.Float32, 13)
		y := tg.op("GlobalMaxPool", []string{tg.in("x", 2, 3, 5, 4)})
		checkGrad(t, tg, y, fdOpts{eps: 1e-3, tol: 1e-3})
	})
}

// AveragePool and GlobalAveragePool run in float32 only on the CPU provider; they are linear,
// so a large step is exact apart from rounding (as for Conv).
func TestAveragePoolGrad(t *testing.T) {
	cases := []struct {
		name  string
		x     []int64
		attrs []ir.Attr
	}{
		{name: "2x2 s2", x: []int64{2, 3, 6, 6}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 2), ir.IntsAttr("strides", 2, 2)}},
		{name: "3x3 s2 p1 exclude pad", x: []int64{2, 2, 7, 7}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{name: "3x3 s2 p1 include pad", x: []int64{2, 2, 7, 7}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1), ir.IntAttr("count_include_pad", 1)}},
		{name: "asymmetric pads include pad", x: []int64{1, 2, 6, 5}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 2), ir.IntsAttr("strides", 1, 2), ir.IntsAttr("pads", 2, 0, 0, 1), ir.IntAttr("count_include_pad", 1)}},
		{name: "ceil mode exclude pad", x: []int64{2, 2, 7, 6}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1), ir.IntAttr("ceil_mode", 1)}},
		{name: "ceil mode include pad", x: []int64{2, 2, 6, 6}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 0, 0, 0, 0), ir.IntAttr("ceil_mode", 1), ir.IntAttr("count_include_pad", 1)}},
		{name: "1-D", x: []int64{2, 3, 8}, attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3), ir.IntsAttr("strides", 2), ir.IntsAttr("pads", 1, 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newGraph(ir.Float32, 13)
			y := tg.op("AveragePool", []string{tg.in("x", c.x...)}, c.attrs...)
			checkGrad(t, tg, y, fdOpts{eps: 0.5, tol: 1e-4})
		})
	}
	t.Run("global", func(t *testing.T) {
		tg := newGraph(ir.Float32, 13)
		y := tg.op("GlobalAveragePool", []string{tg.in("x", 2, 3, 5, 4)})
		checkGrad(t, tg, y, fdOpts{eps: 0.5, tol: 1e-4})
	})
}
