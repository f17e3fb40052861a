// Command qdqsoup averages QDQ models exported from the same float model with the same flags
// (same graph, same initializer names), such as conversions with different seeds: every
// quantization scale is the mean of the models' scales, every weight is the mean of the
// models' dequantized weights put back on the averaged grid by rounding to nearest, and every
// int32 bias the mean of the dequantized biases at the new s_x·s_w. An experiment for
// BENCHMARKS.md (does averaging runs on different synthetic sets carry over better?), not
// part of sharpq.
//
//	go run ./scripts/qdqsoup -o OUT.onnx A.onnx B.onnx [C.onnx…]
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"slices"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
)

func main() {
	log.SetFlags(0)
	out := flag.String("o", "", "where to write the average")
	flag.Parse()
	if *out == "" || flag.NArg() < 2 {
		log.Fatal("qdqsoup: want -o OUT and two or more QDQ models")
	}
	var models []*ir.Model
	for _, p := range flag.Args() {
		m, err := onnxio.Read(p)
		if err != nil {
			log.Fatalf("qdqsoup: %v", err)
		}
		models = append(models, m)
	}
	dst := models[0]
	g := dst.Graph
	init := func(k int, name string) *ir.Tensor {
		t := models[k].Graph.Initializer(name)
		if t == nil {
			log.Fatalf("qdqsoup: %s has no initializer %q", flag.Arg(k), name)
		}
		return t
	}
	// Scales: the mean over the models (computed from the originals, written after).
	scales := map[string][]float32{}
	for _, n := range g.Nodes {
		if (n.OpType != "QuantizeLinear" && n.OpType != "DequantizeLinear") || g.Initializer(n.Input(1)) == nil {
			continue
		}
		name := n.Input(1)
		if _, done := scales[name]; done {
			continue
		}
		mean := make([]float32, len(init(0, name).F32))
		for k := range models {
			t := init(k, name)
			if len(t.F32) != len(mean) {
				log.Fatalf("qdqsoup: scale %q has %d values in %s", name, len(t.F32), flag.Arg(k))
			}
			for i, v := range t.F32 {
				mean[i] += v / float32(len(models))
			}
		}
		scales[name] = mean
	}
	producer := map[string]*ir.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	newInts := map[string][]float64{}
	newZero := map[string][]float64{}
	// Weights: mean of dequantized values, rounded onto the mean grid.
	for _, n := range g.Nodes {
		if n.OpType != "DequantizeLinear" {
			continue
		}
		x := g.Initializer(n.Input(0))
		if x == nil || x.DType == ir.Int32 {
			continue
		}
		lo, hi := gridOf(x.DType)
		s := scales[n.Input(1)]
		per := int(x.Len()) / len(s)
		zeros := make([]float64, len(s))
		avg := make([]float64, x.Len())
		for k := range models {
			q, err := init(k, n.Input(0)).Float64s()
			if err != nil {
				log.Fatal(err)
			}
			sk := init(k, n.Input(1)).F32
			zk := zeroPoints(models[k].Graph, n, len(sk))
			for c := range sk {
				zeros[c] += zk[c] / float64(len(models))
			}
			for i, v := range q {
				c := i / per
				avg[i] += float64(sk[c]) * (v - zk[c]) / float64(len(models))
			}
		}
		ints := make([]float64, len(avg))
		for c := range zeros {
			zeros[c] = math.Round(zeros[c])
		}
		for i, v := range avg {
			c := i / per
			ints[i] = math.Min(math.Max(math.RoundToEven(v/float64(s[c]))+zeros[c], lo), hi)
		}
		newInts[n.Input(0)] = ints
		if n.Input(2) != "" {
			newZero[n.Input(2)] = zeros
		}
	}
	// Biases: mean of dequantized values at the new s_x·s_w.
	for _, n := range g.Nodes {
		if n.OpType != "Conv" && n.OpType != "Gemm" || n.Input(2) == "" {
			continue
		}
		bdq := producer[n.Input(2)]
		if bdq == nil || bdq.OpType != "DequantizeLinear" {
			continue
		}
		b := g.Initializer(bdq.Input(0))
		if b == nil || b.DType != ir.Int32 {
			continue
		}
		xdq, wdq := producer[n.Input(0)], producer[n.Input(1)]
		if xdq == nil || wdq == nil || xdq.OpType != "DequantizeLinear" || wdq.OpType != "DequantizeLinear" {
			log.Fatalf("qdqsoup: %s: int32 bias without quantized input and weight", n.Name)
		}
		sx, sw := scales[xdq.Input(1)], scales[wdq.Input(1)]
		avg := make([]float64, len(b.I32))
		for k := range models {
			bk := init(k, bdq.Input(0)).I32
			sb := init(k, bdq.Input(1)).F32
			for c, v := range bk {
				avg[c] += float64(v) * float64(sb[c]) / float64(len(models))
			}
		}
		sb := make([]float32, len(avg))
		ints := make([]float64, len(avg))
		for c := range avg {
			sb[c] = sx[0] * sw[c]
			ints[c] = math.RoundToEven(avg[c] / float64(sb[c]))
		}
		scales[bdq.Input(1)] = sb
		newInts[bdq.Input(0)] = ints
	}
	for i, t := range g.Initializers {
		c := t.Clone()
		switch {
		case scales[t.Name] != nil:
			c.F32 = scales[t.Name]
		case newInts[t.Name] != nil:
			setInts(c, newInts[t.Name])
		case newZero[t.Name] != nil:
			setInts(c, newZero[t.Name])
		default:
			continue
		}
		g.Initializers[i] = c
	}
	g.Index()
	if err := onnxio.Write(*out, dst); err != nil {
		log.Fatalf("qdqsoup: %v", err)
	}
	fmt.Printf("averaged %d models: %d scales, %d integer tensors\n", len(models), len(scales), len(newInts))
}

// zeroPoints returns DequantizeLinear n's zero points in model g as floats (0 without one).
func zeroPoints(g *ir.Graph, n *ir.Node, channels int) []float64 {
	z := make([]float64, channels)
	if n.Input(2) == "" {
		return z
	}
	t := g.Initializer(n.Input(2))
	v, err := t.Float64s()
	if err != nil {
		log.Fatal(err)
	}
	if len(v) == 1 {
		for c := range z {
			z[c] = v[0]
		}
		return z
	}
	return slices.Clone(v)
}

func gridOf(dt ir.DType) (lo, hi float64) {
	switch dt {
	case ir.Int4:
		return -8, 7
	case ir.Uint4:
		return 0, 15
	case ir.Int8:
		return -128, 127
	case ir.Uint8:
		return 0, 255
	}
	log.Fatalf("qdqsoup: weights of type %v", dt)
	return 0, 0
}

func setInts(t *ir.Tensor, v []float64) {
	for i, x := range v {
		switch {
		case t.I8 != nil:
			t.I8[i] = int8(x)
		case t.U8 != nil:
			t.U8[i] = uint8(x)
		case t.I32 != nil:
			t.I32[i] = int32(x)
		default:
			log.Fatalf("qdqsoup: %s: unexpected integer type %v", t.Name, t.DType)
		}
	}
}
