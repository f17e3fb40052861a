// Command xscale multiplies the steps of a QDQ model's signed 4-bit activation quantizers
// (mobilenetv2's residual streams) whose input value matches -match by -k, and lists them.
// A one-off diagnostic for BENCHMARKS.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"regexp"

	"github.com/sharpq/sharpq/onnxio"
)

func main() {
	in := flag.String("in", "", "")
	out := flag.String("o", "", "")
	k := flag.Float64("k", 1, "")
	match := flag.String("match", ".", "")
	flag.Parse()
	re := regexp.MustCompile(*match)
	m, err := onnxio.Read(*in)
	if err != nil {
		log.Fatal(err)
	}
	g := m.Graph
	done := map[string]bool{}
	for _, n := range g.Nodes {
		if n.OpType != "QuantizeLinear" || len(n.Inputs) < 3 {
			continue
		}
		s, z := g.Initializer(n.Inputs[1]), g.Initializer(n.Inputs[2])
		if s == nil || z == nil || fmt.Sprint(z.DType) != "int4" || s.Len() != 1 || done[s.Name] || !re.MatchString(n.Inputs[0]) {
			continue
		}
		done[s.Name] = true
		fmt.Printf("%s %g\n", n.Inputs[0], s.F32[0])
		s.F32[0] *= float32(*k)
	}
	if *out != "" {
		if err := onnxio.Write(*out, m); err != nil {
			log.Fatal(err)
		}
	}
}
