// Command swapquant copies the quantization of some layers from one QDQ model into another
// exported from the same float model (same graph, same initializer names): every initializer
// whose name matches -match (integer weights, their scales and zero points, activation scales,
// int32 biases) is taken from -from. A diagnostic for BENCHMARKS.md: which blocks of a
// data-free model cost accuracy against a real-data one.
//
//	go run ./scripts/swapquant -into R.onnx -from S.onnx -match '^features\.3\.|/features\.3/' -o OUT.onnx
package main

import (
	"flag"
	"fmt"
	"log"
	"regexp"
	"slices"

	"github.com/sharpq/sharpq/onnxio"
)

func main() {
	log.SetFlags(0)
	into := flag.String("into", "", "QDQ model to change")
	from := flag.String("from", "", "QDQ model whose initializers replace those of -into")
	match := flag.String("match", "", "regular expression on initializer names")
	out := flag.String("o", "", "where to write the result")
	flag.Parse()
	if *into == "" || *from == "" || *match == "" || *out == "" {
		log.Fatal("swapquant: -into, -from, -match and -o are all needed")
	}
	re, err := regexp.Compile(*match)
	if err != nil {
		log.Fatalf("swapquant: -match: %v", err)
	}
	dst, err := onnxio.Read(*into)
	if err != nil {
		log.Fatalf("swapquant: %v", err)
	}
	src, err := onnxio.Read(*from)
	if err != nil {
		log.Fatalf("swapquant: %v", err)
	}
	n := 0
	for i, t := range dst.Graph.Initializers {
		if !re.MatchString(t.Name) {
			continue
		}
		s := src.Graph.Initializer(t.Name)
		if s == nil || s.DType != t.DType || !slices.Equal(s.Shape, t.Shape) {
			log.Fatalf("swapquant: %s: initializer %q missing or of another type or shape", *from, t.Name)
		}
		dst.Graph.Initializers[i] = s
		n++
	}
	dst.Graph.Index()
	if n == 0 {
		log.Fatalf("swapquant: no initializer of %s matches %q", *into, *match)
	}
	if err := onnxio.Write(*out, dst); err != nil {
		log.Fatalf("swapquant: %v", err)
	}
	fmt.Printf("%d initializers from %s\n", n, *from)
}
