package autodiff

import (
	"testing"

	"github.com/sharpq/sharpq/ir"
)

func TestReduceGrad(t *testing.T) {
	cases := []struct {
		name  string
		opset int64
		build func(tg *tgraph) string
	}{
		{"ReduceSum axis 1", 13, func(tg *tgraph) string {
			return tg.op("ReduceSum", []string{tg.in("x", 2, 3, 4), tg.ints(1)}, ir.IntAttr("keepdims", 0))
		}},
		{"ReduceSum axes 0 -1 keepdims", 13, func(tg *tgraph) string {
			return tg.op("ReduceSum", []string{tg.in("x", 2, 3, 4), tg.ints(0, -1)})
		}},
		{"ReduceSum all", 13, func(tg *tgraph) string {
			return tg.op("ReduceSum", []string{tg.in("x", 2, 3, 4)})
		}},
		{"ReduceSum empty axes noop", 13, func(tg *tgraph) string {
			return tg.op("ReduceSum", []string{tg.in("x", 2, 3), tg.ints()}, ir.IntAttr("noop_with_empty_axes", 1))
		}},
		{"ReduceMean attribute axes", 13, func(tg *tgraph) string {
			return tg.op("ReduceMean", []string{tg.in("x", 2, 3, 4, 5)}, ir.IntsAttr("axes", 0, 2, 3))
		}},
		{"ReduceMean all no keepdims", 13, func(tg *tgraph) string {
			y := tg.op("ReduceMean", []string{tg.in("x", 2, 3, 4)}, ir.IntAttr("keepdims", 0))
			return tg.op("Reshape", []string{y, tg.ints(1)})
		}},
		{"ReduceMean input axes opset 18", 18, func(tg *tgraph) string {
			return tg.op("ReduceMean", []string{tg.in("x", 2, 3, 4), tg.ints(1, 2)}, ir.IntAttr("keepdims", 0))
		}},
		{"ReduceSumSquare attribute axes", 13, func(tg *tgraph) string {
			return tg.op("ReduceSumSquare", []string{tg.in("x", 2, 3, 4)}, ir.IntsAttr("axes", 2))
		}},
		{"ReduceSumSquare input axes opset 18", 18, func(tg *tgraph) string {
			return tg.op("ReduceSumSquare", []string{tg.in("x", 2, 3, 4), tg.ints(0)}, ir.IntAttr("keepdims", 0))
		}},
		{"ReduceMax axis 1", 13, func(tg *tgraph) string {
			return tg.op("ReduceMax", []string{tg.in("x", 2, 3, 4)}, ir.IntsAttr("axes", 1), ir.IntAttr("keepdims", 0))
		}},
		{"ReduceMin all", 13, func(tg *tgraph) string {
			return tg.op("ReduceMin", []string{tg.in("x", 2, 3, 4)})
		}},
		{"ReduceMax input axes opset 18", 18, func(tg *tgraph) string {
			return tg.op("ReduceMax", []string{tg.in("x", 2, 3, 4), tg.ints(0, 2)})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newGraph(ir.Float64, c.opset)
			checkGrad(t, tg, c.build(tg), smoothFD)
		})
	}
}

func TestReduceMaxTiesSplit(t *testing.T) {
	tg := newGraph(ir.Float64, 13)
	x := tg.in("x", 2, 3)
	loss := lossOf(t, tg, tg.op("ReduceMax", []string{x}, ir.IntsAttr("axes", 1)))
	grads, err := Grad(tg.m, loss, []string{x})
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, tg.m, map[string][]float64{x: {1, 3, 3, 5, 2, 1}}, grads)[grads[0]]
	want := []float64{0, 0.5, 0.5, 1, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("gradient %v, want %v", got, want)
		}
	}
}
