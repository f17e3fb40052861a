package convert_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

// Converting a float model to W4A4 QDQ ONNX without data, as an export step would: read the
// model, run the pipeline (here with a tiny schedule; use convert.Fast() or convert.Paper()), and
// write the result. ONNX Runtime is found as the sharpq command finds it.
func ExampleRun() {
	m, err := onnxio.Read("../testmodels/resnet20_fmnist.onnx")
	if err != nil {
		log.Fatal(err)
	}
	// The quick preset cut down to seconds: start from a preset and change its fields.
	tiny := convert.Quick()
	tiny.Name = "tiny"
	tiny.Images, tiny.GenBatch, tiny.GenSteps, tiny.ActImages = 16, 8, 20, 16
	tiny.WarmUpIters, tiny.RefineSteps, tiny.ReconIters, tiny.ReconBatch = 5, 2, 20, 8
	rep, err := convert.Run(context.Background(), convert.Options{
		Model: m, ModelName: "resnet20_fmnist", Bits: quantizer.DefaultBits(4, 4),
		Method: convert.SADAG, Schedule: tiny, Seed: 1, Threads: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sharpq-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := rep.WriteModel(filepath.Join(dir, "resnet20_w4a4.onnx")); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s W%dA%d: %d synthetic images, %d blocks reconstructed, self-check passed: %v\n",
		rep.Method, rep.WBits, rep.ABits, rep.Images, len(rep.Blocks), rep.SelfCheck.Agreement >= 98)
	// Output: sadag W4A4: 16 synthetic images, 11 blocks reconstructed, self-check passed: true
}

// A long conversion on a machine that may stop (a preemptible VM, a CI job with a time limit)
// keeps its progress in a work folder. Run with Resume continues what the folder holds (here,
// a whole earlier run, so nothing is computed again) and returns the model an uninterrupted
// run returns; with an empty folder it starts from the beginning.
func ExampleRun_resume() {
	m, err := onnxio.Read("../testmodels/resnet20_fmnist.onnx")
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "sharpq-work")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	tiny := convert.Quick()
	tiny.Name = "tiny"
	tiny.Images, tiny.GenBatch, tiny.GenSteps, tiny.ActImages = 16, 8, 20, 16
	tiny.WarmUpIters, tiny.RefineSteps, tiny.ReconIters, tiny.ReconBatch = 5, 2, 20, 8
	var models [2][]byte
	for i := range models {
		rep, err := convert.Run(context.Background(), convert.Options{
			Model: m, Bits: quantizer.DefaultBits(4, 4), Schedule: tiny, Seed: 1, Threads: 1,
			WorkDir: work, Resume: true,
		})
		if err != nil {
			log.Fatal(err)
		}
		if models[i], err = onnxio.Encode(rep.Quantized); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("resumed run returns the same model:", string(models[0]) == string(models[1]))
	// Output: resumed run returns the same model: true
}
