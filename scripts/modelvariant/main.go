// Command modelvariant writes a float model (opset 13 or later) in another form its users'
// exporters produce, for BENCHMARKS.md's figures on such models:
//
//	-opset N         as an exporter at opset N writes it (testmodels.AsOldExport: Clip bounds
//	                 and Reduce/Unsqueeze axes as attributes, BN's spatial, IR 3)
//	-normalise M,S   with (x − M)/S baked in before the first layer (testmodels.WithPreprocessing)
//	-softmax         with a final Softmax (testmodels.WithSoftmax)
//	-nhwc            with a channels-last input and a Transpose (testmodels.WithNHWCInput)
//	-pad-nodes       with every Conv's padding in a zero Pad node before it (testmodels.WithPadNodes)
//	-fp16            computing in float16, with float16 input and output (testmodels.AsFloat16)
//	-fp16-keep-io    computing in float16 behind a float32 input and output
//
//	go run ./scripts/modelvariant -opset 9 -o M_opset9.onnx M.onnx
package main

import (
	"flag"
	"log"
	"strconv"
	"strings"

	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

func main() {
	log.SetFlags(0)
	opset := flag.Int64("opset", 0, "write as an exporter at this opset (7–17; 0: keep)")
	normalise := flag.String("normalise", "", "bake (x − MEAN)/STD in, as MEAN,STD")
	softmax := flag.Bool("softmax", false, "append a Softmax over the classes")
	nhwc := flag.Bool("nhwc", false, "take channels-last input, as TensorFlow converters write")
	padNodes := flag.Bool("pad-nodes", false, "move convolution padding into Pad nodes, as TensorFlow converters write")
	fp16 := flag.Bool("fp16", false, "compute in float16 with a float16 input and output, as PyTorch exports a model.half()")
	fp16KeepIO := flag.Bool("fp16-keep-io", false, "compute in float16 behind a float32 input and output, as onnxconverter-common's keep_io_types")
	out := flag.String("o", "", "where to write the result")
	flag.Parse()
	if flag.NArg() != 1 || *out == "" || *opset != 0 && (*opset < 7 || *opset > 17) {
		log.Fatal("usage: modelvariant [-opset N] [-normalise MEAN,STD] [-softmax] [-nhwc] [-pad-nodes] [-fp16 | -fp16-keep-io] -o OUT.onnx MODEL.onnx (7 ≤ N ≤ 17)")
	}
	m, err := onnxio.Read(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	if *normalise != "" {
		parts := strings.Split(*normalise, ",")
		if len(parts) != 2 {
			log.Fatalf("-normalise %q: want MEAN,STD", *normalise)
		}
		mean, err1 := strconv.ParseFloat(parts[0], 32)
		std, err2 := strconv.ParseFloat(parts[1], 32)
		if err1 != nil || err2 != nil || std == 0 {
			log.Fatalf("-normalise %q: want two numbers, STD not 0", *normalise)
		}
		m = testmodels.WithPreprocessing(m, float32(mean), float32(std))
	}
	if *softmax {
		m = testmodels.WithSoftmax(m)
	}
	if *nhwc {
		m = testmodels.WithNHWCInput(m)
	}
	if *padNodes {
		m = testmodels.WithPadNodes(m)
	}
	if *opset != 0 {
		m = testmodels.AsOldExport(m, *opset)
	}
	if *fp16 || *fp16KeepIO {
		m = testmodels.AsFloat16(m, *fp16KeepIO)
	}
	if err := onnxio.Write(*out, m); err != nil {
		log.Fatal(err)
	}
}
