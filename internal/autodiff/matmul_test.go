package autodiff

import (
	"fmt"
	"testing"

	"github.com/sharpq/sharpq/ir"
)

func TestGemmGrad(t *testing.T) {
	// A is 3×4 (or 4×3 transposed), B 4×5 (or 5×4), Y 3×5.
	biases := [][]int64{nil, {5}, {3, 5}, {1, 5}, {3, 1}, {1}}
	for _, ta := range []int64{0, 1} {
		for _, tb := range []int64{0, 1} {
			for _, c := range biases {
				name := fmt.Sprintf("transA=%d transB=%d C%v", ta, tb, c)
				t.Run(name, func(t *testing.T) {
					tg := newGraph(ir.Float64, 13)
					as, bs := []int64{3, 4}, []int64{4, 5}
					if ta == 1 {
						as = []int64{4, 3}
					}
					if tb == 1 {
						bs = []int64{5, 4}
					}
					ins := []string{tg.in("a", as...), tg.in("b", bs...)}
					if c != nil {
						ins = append(ins, tg.in("c", c...))
					}
					y := tg.op("Gemm", ins, ir.FloatAttr("alpha", 0.7), ir.FloatAttr("beta", 1.5),
						ir.IntAttr("transA", ta), ir.IntAttr("transB", tb))
					checkGrad(t, tg, y, smoothFD)
				})
			}
		}
	}
}

func TestMatMulGrad(t *testing.T) {
	cases := []struct {
		name string
		a, b []int64
	}{
		{"2-D", []int64{3, 4}, []int64{4, 5}},
		{"batched", []int64{2, 3, 4}, []int64{2, 4, 5}},
		{"broadcast right", []int64{2, 3, 4}, []int64{4, 5}},
		{"broadcast both", []int64{2, 1, 3, 4}, []int64{3, 4, 5}},
		{"vector left", []int64{4}, []int64{2, 4, 5}},
		{"vector right", []int64{2, 3, 4}, []int64{4}},
		{"dot", []int64{4}, []int64{4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newGraph(ir.Float64, 13)
			y := tg.op("MatMul", []string{tg.in("a", c.a...), tg.in("b", c.b...)})
			if len(c.a) == 1 && len(c.b) == 1 {
				// A scalar output: give the session a [1] tensor.
				y = tg.op("Reshape", []string{y, tg.ints(1)})
			}
			checkGrad(t, tg, y, smoothFD)
		})
	}
}
