// Command xdiag compares the signed 4-bit activations (residual streams) of a QDQ model on
// real and synthetic images: clipped and zeroed fractions and the per-channel RMS ratio.
// A one-off diagnostic for BENCHMARKS.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/ort"
	"github.com/sharpq/sharpq/onnxio"
)

func main() {
	model := flag.String("m", "", "")
	real := flag.String("real", "", "")
	syn := flag.String("syn", "", "")
	nimg := flag.Int("n", 512, "")
	flag.Parse()
	m, err := onnxio.Read(*model)
	if err != nil {
		log.Fatal(err)
	}
	g := m.Graph
	var names []string
	steps := map[string]float64{}
	for _, n := range g.Nodes {
		if n.OpType != "QuantizeLinear" || len(n.Inputs) < 3 {
			continue
		}
		s, z := g.Initializer(n.Inputs[1]), g.Initializer(n.Inputs[2])
		if s == nil || z == nil || fmt.Sprint(z.DType) != "int4" || s.Len() != 1 {
			continue
		}
		if _, ok := steps[n.Inputs[0]]; ok {
			continue
		}
		steps[n.Inputs[0]] = float64(s.F32[0])
		names = append(names, n.Inputs[0])
	}
	rt, err := ort.Open(ort.Options{Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	dr, err := calib.Load(*real, "", calib.Preprocess{Mean: []float32{0.2860}, Std: []float32{0.3530}})
	if err != nil {
		log.Fatal(err)
	}
	ds, err := calib.Load(*syn, "", calib.Preprocess{})
	if err != nil {
		log.Fatal(err)
	}
	type st struct {
		max             []float64
		clip, zero, tot float64
		sq              []float64
	}
	run := func(x []float32, n int) map[string]*st {
		const bs = 64
		s, err := infer.NewWithOutputs(rt, m, bs, names)
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		per := len(x) / n
		out := map[string]*st{}
		for i := 0; i+bs <= n; i += bs {
			copy(s.Input(), x[i*per:(i+bs)*per])
			if err := s.Run(); err != nil {
				log.Fatal(err)
			}
			for _, nm := range names {
				v := s.OutputOf(nm)
				sh := s.ShapeOf(nm)
				c := int(sh[1])
				hw := len(v) / bs / c
				r := out[nm]
				if r == nil {
					r = &st{max: make([]float64, c), sq: make([]float64, c)}
					out[nm] = r
				}
				stp := steps[nm]
				for b := 0; b < bs; b++ {
					for ch := 0; ch < c; ch++ {
						for k := 0; k < hw; k++ {
							f := float64(v[(b*c+ch)*hw+k])
							r.max[ch] = math.Max(r.max[ch], math.Abs(f))
							r.sq[ch] += f * f
							if f > 7.5*stp || f < -8.5*stp {
								r.clip++
							}
							if math.Abs(f) < stp/2 {
								r.zero++
							}
							r.tot++
						}
					}
				}
			}
		}
		return out
	}
	n := *nimg
	a := run(dr.X, min(n, dr.N))
	b := run(ds.X, min(n, ds.N))
	for _, nm := range names {
		ra, rb := a[nm], b[nm]
		stp := steps[nm]
		// channels whose real max < step/2 (always zero)
		dead, deadS := 0, 0
		ratio := 0.0
		for ch := range ra.max {
			if ra.max[ch] < stp/2 {
				dead++
			}
			if rb.max[ch] < stp/2 {
				deadS++
			}
			ratio += math.Sqrt(ra.sq[ch]/(rb.sq[ch]+1e-12)) / float64(len(ra.max))
		}
		fmt.Printf("%-60s C=%3d step=%.3f real: clip %.4f zero %.3f dead %d | syn: clip %.4f zero %.3f dead %d | rms ratio real/syn %.2f\n",
			nm, len(ra.max), stp, ra.clip/ra.tot, ra.zero/ra.tot, dead, rb.clip/rb.tot, rb.zero/rb.tot, deadS, ratio)
	}
}
