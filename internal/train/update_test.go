package train

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// newHostTrainer is a Trainer without a session, over params split into chunks, for the
// host-side update alone.
func newHostTrainer(workers int, params ...*Param) *Trainer {
	t := &Trainer{params: params, workers: workers}
	for i, p := range params {
		p.m, p.v = make([]float32, len(p.Data)), make([]float32, len(p.Data))
		for lo := 0; lo < len(p.Data); lo += chunkSize {
			t.chunks = append(t.chunks, chunk{i, lo, min(lo+chunkSize, len(p.Data))})
		}
	}
	t.bad = make([]int, len(t.chunks))
	return t
}

// testParams returns two parameters of several chunks each with deterministic gradients.
func testParams() []*Param {
	g := &Group{LR: 1e-2}
	var params []*Param
	for k, n := range []int{3*chunkSize + 17, chunkSize / 2} {
		p := &Param{Name: fmt.Sprintf("p%d", k), Group: g, Data: make([]float32, n), Grad: make([]float32, n)}
		for i := range p.Grad {
			p.Grad[i] = float32((i*7+k)%101-50) * 1e-3
		}
		params = append(params, p)
	}
	return params
}

// The update is the same on one goroutine and on several, and a non-finite gradient is
// reported at its first element in parameter order, whichever chunk found it.
func TestUpdate(t *testing.T) {
	one, many := testParams(), testParams()
	a, b := newHostTrainer(1, one...), newHostTrainer(4, many...)
	for range 3 {
		if err := a.update(); err != nil {
			t.Fatal(err)
		}
		if err := b.update(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range one {
		if !slices.Equal(one[i].Data, many[i].Data) || !slices.Equal(one[i].m, many[i].m) || !slices.Equal(one[i].v, many[i].v) {
			t.Errorf("parameter %s: the update on 4 goroutines differs from the one on 1", one[i].Name)
		}
	}
	bad := testParams()
	bad[0].Grad[2*chunkSize+5] = float32(math.NaN())
	bad[0].Grad[3*chunkSize+1] = float32(math.Inf(1))
	bad[1].Grad[0] = float32(math.NaN())
	before := slices.Clone(bad[0].Data)
	err := newHostTrainer(4, bad...).update()
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), fmt.Sprintf("\"p0\" is NaN at element %d", 2*chunkSize+5)) {
		t.Errorf("update with NaN gradients: %v, want the first one named", err)
	}
	if !slices.Equal(before, bad[0].Data) {
		t.Error("a step with a NaN gradient updated the parameters")
	}
}

// BenchmarkHostUpdate times the host side of one step for 16 M parameters (a generator at
// 224×224 has about 100 M): the finite check and Adam, on one goroutine and on one per CPU.
func BenchmarkHostUpdate(b *testing.B) {
	const n = 1 << 24
	p := &Param{Name: "w", Group: &Group{LR: 1e-3}, Data: make([]float32, n), Grad: make([]float32, n)}
	for i := range p.Grad {
		p.Grad[i] = float32(i%97) * 1e-3
	}
	for _, workers := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			tr := newHostTrainer(workers, p)
			for b.Loop() {
				if err := tr.update(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
