package quantizer

import (
	"fmt"
	"math"

	"github.com/sharpq/sharpq/internal/parallel"
	"github.com/sharpq/sharpq/ir"
)

// lpNorm is the exponent of the error the clipping search minimises, Σ|x − q(x)|^2.4, as
// GENIE and BRECQ do: between MSE (too tolerant of outliers' clipping) and max-abs.
const lpNorm = 2.4

// clipSteps is how many clipping ratios the search tries: 1.00, 0.99, …, 0.21 (GENIE's grid).
const clipSteps = 80

// maxSearchSamples bounds the activation elements the step search looks at.
const maxSearchSamples = 1 << 14

// initWeights sets each weight quantizer's per-channel scale and zero point by searching the
// clipping ratio of the channel's range that minimises Σ|w − q(w)|^2.4 with round-to-nearest.
// Channels are searched on up to workers goroutines; each one's result is its own, so the
// scales do not depend on how many.
func initWeights(g *ir.Graph, p *Plan, workers int) error {
	type channel struct {
		q *WeightQuant
		c int
		w []float32
	}
	var channels []channel
	for _, q := range p.Weights {
		w := g.Initializer(q.Weight)
		if w == nil {
			return fmt.Errorf("quantizer: weight %q not found", q.Weight)
		}
		cout := int(w.Shape[0])
		per := len(w.F32) / cout
		q.Scale = make([]float32, cout)
		q.Zero = make([]float32, cout)
		for c := range cout {
			channels = append(channels, channel{q, c, w.F32[c*per : (c+1)*per]})
		}
	}
	parallel.For(len(channels), workers, func(i int) {
		ch := channels[i]
		ch.q.Scale[ch.c], ch.q.Zero[ch.c] = searchChannel(ch.w, ch.q.Bits, ch.q.Symmetric)
	})
	return nil
}

// lpError is |d|^norm, the clipping searches' error of one value. math.Pow's general path
// (special cases, the integer part of the exponent by repeated squaring with Frexp and
// Ldexp) made the weight search most of a large model's set-up; this is one Log and one Exp.
func lpError(d, norm float64) float64 {
	d = math.Abs(d)
	switch {
	case d == 0:
		return 0
	case norm == 2:
		return d * d
	}
	return math.Exp(norm * math.Log(d))
}

// searchChannel returns the scale and zero point of one channel.
func searchChannel(w []float32, bits int, symmetric bool) (float32, float32) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range w {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	levels := math.Exp2(float64(bits)) - 1
	bestErr, bestS, bestZ := math.Inf(1), 1e-8, 0.0
	for i := 0; i < clipSteps; i++ {
		r := 1 - 0.01*float64(i)
		var s, z, qlo, qhi float64
		if symmetric {
			half := math.Exp2(float64(bits - 1))
			s = math.Max(-lo, hi) * r / (half - 1)
			if bits == 2 {
				s = math.Max(-lo, hi) * r / half
			}
			qlo, qhi = -half, half-1
		} else {
			s = (hi - lo) * r / levels
			qlo, qhi = 0, levels
		}
		if s <= 0 {
			continue
		}
		if !symmetric {
			z = math.Min(math.Max(math.RoundToEven(-lo*r/s), 0), levels)
		}
		var e float64
		for _, v := range w {
			x := math.Min(math.Max(math.RoundToEven(float64(v)/s)+z, qlo), qhi)
			e += lpError(float64(v)-s*(x-z), lpNorm)
		}
		if e < bestErr {
			bestErr, bestS, bestZ = e, s, z
		}
	}
	return float32(bestS), float32(bestZ)
}

// initActs sets each activation quantizer's step from the statistics of its value that
// collectActs gathered, searching the clipping ratio of the observed range that minimises
// Σ|x − q(x)|^norm over the sample; norm 0 means the paper's 2.4. Activations are searched
// on up to workers goroutines.
func initActs(p *Plan, stats map[string]*actStats, norm float64, workers int) error {
	if norm == 0 {
		norm = lpNorm
	}
	if norm < 1 || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("quantizer: activation clipping norm %g: want a number ≥ 1", norm)
	}
	for _, a := range p.Acts {
		if st := stats[a.Value]; st == nil || !st.complete() {
			return fmt.Errorf("quantizer: no samples of activation %q", a.Value)
		}
	}
	parallel.For(len(p.Acts), workers, func(i int) {
		a := p.Acts[i]
		st := stats[a.Value]
		a.Zero = 0
		if a.Asymmetric {
			// The weights' search: both ends of the range shrink together, the zero point
			// follows.
			a.Step, a.Zero = searchAsymmetric(st, a.Bits, norm)
			return
		}
		a.Step = searchStep(st, a.Bits, a.Signed, norm)
	})
	return nil
}

// searchAsymmetric returns the step and zero point of an unsigned grid for activations: the
// clipping ratio as searchChannel, and both roundings of the zero point, since the one to
// nearest can clip the range's low end, where a frequent value (an image's background, a
// ReLU-free layer's floor) may sit.
func searchAsymmetric(st *actStats, bits int, norm float64) (float32, float32) {
	x := st.sample
	lo, hi := math.Min(st.lo, 0), math.Max(st.hi, 0)
	levels := math.Exp2(float64(bits)) - 1
	bestErr, bestS, bestZ := math.Inf(1), 1.0, 0.0
	for i := 0; i < clipSteps; i++ {
		r := 1 - 0.01*float64(i)
		s := (hi - lo) * r / levels
		if s <= 0 {
			continue
		}
		zf := -lo * r / s
		for _, z := range []float64{math.Floor(zf), math.Ceil(zf)} {
			z = math.Min(math.Max(z, 0), levels)
			var e float64
			for _, v := range x {
				q := math.Min(math.Max(math.RoundToEven(float64(v)/s)+z, 0), levels)
				e += lpError(float64(v)-s*(q-z), norm)
			}
			if e < bestErr {
				bestErr, bestS, bestZ = e, s, z
			}
		}
	}
	return float32(bestS), float32(bestZ)
}

// searchStep returns the step of a symmetric (signed) or zero-based (unsigned) grid: the
// clipping ratio of the largest magnitude that minimises Σ|x − q(x)|^norm over the sample.
func searchStep(st *actStats, bits int, signed bool, norm float64) float32 {
	maxAbs := math.Max(math.Abs(st.lo), math.Abs(st.hi))
	if maxAbs == 0 {
		return 1
	}
	qlo, qhi := 0.0, math.Exp2(float64(bits))-1
	if signed {
		qlo, qhi = -math.Exp2(float64(bits-1)), math.Exp2(float64(bits-1))-1
	}
	x := st.sample
	bestErr, best := math.Inf(1), maxAbs/qhi
	for i := 0; i < clipSteps; i++ {
		s := maxAbs * (1 - 0.01*float64(i)) / qhi
		var e float64
		for j := range x {
			v := float64(x[j])
			q := math.Min(math.Max(math.RoundToEven(v/s), qlo), qhi)
			e += lpError(v-s*q, norm)
		}
		if e < bestErr {
			bestErr, best = e, s
		}
	}
	return float32(best)
}
