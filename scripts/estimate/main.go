// Command estimate measures the per-step cost of each stage of `sharpq convert` on a model
// and extrapolates the time of the fast and paper presets on this machine:
//
//	go run ./scripts/estimate -model ../shared/models/resnet20_fmnist.onnx [-batch 128] [-steps 3] [-device cuda]
//
// Each per-step time is measured from the end of a stage's first step to the end of step
// 1+steps, so session creation and the forward passes around reconstruction are not counted.
// With -batch below the presets' 128 the generation and refinement steps are scaled linearly
// to 128 (stated in the output).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"time"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
)

func main() {
	modelPath := flag.String("model", "", "ONNX model with BatchNormalization statistics")
	batch := flag.Int("batch", 128, "generation batch to measure at")
	steps := flag.Int("steps", 3, "extra steps per measurement")
	threads := flag.Int("threads", 0, "ONNX Runtime intra-op threads")
	parallel := flag.Int("parallel", 1, "generation batches run side by side (each at -threads; sharpq on 2 cores runs 2 at 1 thread)")
	device := flag.String("device", "cpu", "execution provider: cpu or cuda")
	flag.Parse()
	if *modelPath == "" {
		log.Fatal("estimate: -model is required")
	}
	lib, err := ort.FindLibrary("")
	if err != nil {
		log.Fatal(err)
	}
	rt, err := ort.Open(ort.Options{LibPath: lib, Device: *device, Threads: *threads})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	m, err := onnxio.Read(*modelPath)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	k := *steps

	// Steps are timed from the end of the first step to the end of the last, so session
	// creation and the first run (where the CUDA provider searches convolution algorithms)
	// are not counted.
	var t1 time.Time
	var perStep float64
	timeSteps := func(step int) {
		switch step {
		case 1:
			t1 = time.Now()
		case 1 + k:
			perStep += time.Since(t1).Seconds() / float64(k)
		}
	}
	// Each stage is logged as it starts, so a run stopped by a time limit says where it was.
	log.Printf("generation: %d steps at batch %d", 1+k, *batch)
	images, err := generator.Synthesize(ctx, rt, m, generator.Options{Images: *batch, Batch: *batch, Steps: 1 + k, Swing: true,
		Progress: func(p generator.Progress) { timeSteps(p.Step) }})
	if err != nil {
		log.Fatal(err)
	}
	tGen := perStep

	bits := quantizer.DefaultBits(2, 4)
	reconN := min(images.N, 64)
	perStep = 0
	log.Printf("reconstruction: %d steps per block on %d images", 1+k, reconN)
	res, err := quantizer.Quantize(ctx, rt, m, images.Data[:reconN*images.C*images.H*images.W], reconN,
		quantizer.Options{Bits: bits, Recon: quantizer.ReconOptions{Iters: 1 + k, Batch: 32, ProgressEvery: 1,
			Progress: func(p quantizer.ReconProgress) { timeSteps(p.Step) }}})
	if err != nil {
		log.Fatal(err)
	}
	tBlocks, nBlocks := perStep, len(res.Blocks)
	log.Printf("warm-up quantization for refinement (no reconstruction)")
	warm, err := quantizer.Quantize(ctx, rt, m, images.Data, images.N, quantizer.Options{Bits: bits})
	if err != nil {
		log.Fatal(err)
	}
	o := generator.RefinePaper()
	o.Steps = 1 + k
	o.Progress = func(p generator.Progress) { timeSteps(p.Step) }
	perStep = 0
	log.Printf("refinement: %d steps at batch %d", 1+k, *batch)
	if _, err := generator.Refine(ctx, rt, m, warm.Simulated, images, o); err != nil {
		log.Fatal(err)
	}
	tRefine := perStep

	scale := 128 / float64(*batch)
	fmt.Printf("device %s, ", rt.Device())
	fmt.Printf("model %s, measured per step: GENIE %.3f s and SADAG refinement %.3f s at batch %d, reconstruction %.3f s summed over %d blocks at minibatch 32\n",
		*modelPath, tGen, tRefine, *batch, tBlocks, nBlocks)
	if scale != 1 {
		fmt.Printf("(generation and refinement scaled ×%.0f to batch 128)\n", scale)
	}
	fmt.Println("| preset | generation | warm-up | refinement | reconstruction | total (sadag) | total (genie) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, s := range []convert.Schedule{convert.Fast(), convert.Paper()} {
		batches := float64((s.Images + s.GenBatch - 1) / s.GenBatch)
		// Side-by-side batches finish together when each has its own cores.
		g := math.Ceil(batches/float64(*parallel)) * float64(s.GenSteps) * tGen * scale
		w := float64(s.WarmUpIters) * tBlocks
		r := batches * float64(s.RefineSteps) * tRefine * scale
		rc := float64(s.ReconIters) * tBlocks
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", s.Name, dur(g), dur(w), dur(r), dur(rc), dur(g+w+r+rc), dur(g+rc))
	}
	os.Exit(0)
}

func dur(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}
