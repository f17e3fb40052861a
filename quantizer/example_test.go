package quantizer_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
)

// An export step that quantizes a model with real calibration images, checks it on labelled
// ones and writes it. ort.FindLibrary looks where the sharpq command does ($SHARPQ_ORT_LIB,
// .ort/ in this folder or a parent).
func ExampleQuantize() {
	ctx := context.Background()
	lib, err := ort.FindLibrary("")
	if err != nil {
		log.Fatal(err)
	}
	rt, err := ort.Open(ort.Options{LibPath: lib, Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	m, err := onnxio.Read("../testmodels/resnet20_fmnist.onnx")
	if err != nil {
		log.Fatal(err)
	}
	// Fashion-MNIST's normalisation, as the model was trained.
	pre := calib.Preprocess{Mean: []float32{0.2860}, Std: []float32{0.3530}}
	images, err := calib.Open(ctx, "../testmodels/fmnist_test1k_u8.npy", "../testmodels/fmnist_test1k_labels.npy", pre, 0)
	if err != nil {
		log.Fatal(err)
	}
	cal, err := calib.ReadAll(ctx, calib.Head(images, 64))
	if err != nil {
		log.Fatal(err)
	}
	recon := quantizer.PresetQuick().Recon(0)
	recon.Iters = 20 // a short example; the preset's 200 steps per block score higher
	res, err := quantizer.Quantize(ctx, rt, m, cal.X, cal.N, quantizer.Options{
		Bits:  quantizer.DefaultBits(4, 4),
		Recon: recon,
		Metadata: []ir.KeyValue{
			{Key: "sharpq.method", Value: "genie-m (real calibration data)"},
			{Key: "sharpq.preset", Value: "quick"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	acc, err := calib.Evaluate(ctx, rt, res.QDQ, images, calib.EvalOptions{Batch: 100})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sharpq-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := onnxio.Write(filepath.Join(dir, "resnet20_w4a4.onnx"), res.QDQ); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("W4A4 with %d blocks reconstructed: self-check passed %v, top-1 above 90%% %v\n",
		len(res.Blocks), res.Check.Agreement >= 98, acc.Top1 > 90)
	// Output: W4A4 with 11 blocks reconstructed: self-check passed true, top-1 above 90% true
}
