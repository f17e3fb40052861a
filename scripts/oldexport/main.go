// Command oldexport rewrites a float model (opset 13 or later) as an older exporter writes it
// (testmodels.AsOldExport: Clip bounds and Reduce/Unsqueeze axes as attributes, BN's spatial,
// IR 3), for BENCHMARKS.md's figures on converting old-opset models.
//
//	go run ./scripts/oldexport -opset 9 -o M_opset9.onnx M.onnx
package main

import (
	"flag"
	"log"

	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

func main() {
	log.SetFlags(0)
	opset := flag.Int64("opset", 9, "opset to write (7–17)")
	out := flag.String("o", "", "where to write the result")
	flag.Parse()
	if flag.NArg() != 1 || *out == "" || *opset < 7 || *opset > 17 {
		log.Fatal("usage: oldexport -opset N -o OUT.onnx MODEL.onnx (7 ≤ N ≤ 17)")
	}
	m, err := onnxio.Read(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	if err := onnxio.Write(*out, testmodels.AsOldExport(m, *opset)); err != nil {
		log.Fatal(err)
	}
}
