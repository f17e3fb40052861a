// Command estimate predicts the time of `sharpq convert`'s presets on this
// machine from a few timed steps of each stage (convert.Estimate, as `sharpq convert
// --estimate` does for one run), and prints them as one Markdown table:
//
//	go run ./scripts/estimate -model ../shared/models/resnet20_fmnist.onnx [-presets quick,fast,paper] [-batch 128] [-steps 3] [-device cuda]
//
// With -batch below the presets' 128 the runs estimated are those with generator batches of
// that size (--gen-batch): for a 224×224 model on a CPU, where a batch of 128 does not fit or
// takes minutes a step. Each preset is measured, with its own estimate.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

func main() {
	modelPath := flag.String("model", "", "ONNX model with BatchNormalization statistics")
	batch := flag.Int("batch", 128, "images per generator")
	steps := flag.Int("steps", 3, "timed steps per stage")
	threads := flag.Int("threads", 0, "ONNX Runtime intra-op threads")
	parallel := flag.Int("parallel", 0, "generation batches run side by side (0: as sharpq convert, one per thread on CPU)")
	device := flag.String("device", "cpu", "execution provider: cpu or cuda")
	presets := flag.String("presets", "quick,fast,paper", "the presets to estimate, comma-separated")
	flag.Parse()
	if *modelPath == "" {
		log.Fatal("estimate: -model is required")
	}
	m, err := onnxio.Read(*modelPath)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("| preset | generation | warm-up | refinement | reconstruction | total (sadag) | total (genie) | per step: generation / refinement / reconstruction (all blocks) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, name := range strings.Split(*presets, ",") {
		s, err := convert.ScheduleByName(name)
		if err != nil {
			log.Fatal(err)
		}
		s.GenBatch = *batch
		log.Printf("estimate: %s preset", s.Name)
		est, err := convert.Estimate(context.Background(), convert.Options{Model: m, ModelName: *modelPath, Bits: quantizer.DefaultBits(2, 4),
			Schedule: s, GenParallel: *parallel, Device: *device, Threads: *threads, Log: log.Printf}, *steps)
		if err != nil {
			log.Fatal(err)
		}
		st := map[string]convert.StageEstimate{}
		for _, x := range est.Stages {
			st[x.Name] = x
		}
		g, w, r, rc := st["generate"], st["warm-up reconstruction"], st["refine"], st["reconstruct+export"]
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %.3g s / %.3g s / %.3g s |\n", s.Name, dur(g.Seconds), dur(w.Seconds), dur(r.Seconds), dur(rc.Seconds),
			dur(est.Seconds), dur(g.Seconds+rc.Seconds), g.StepSeconds, r.StepSeconds, rc.StepSeconds)
	}
	fmt.Printf("\n(device %s, %d threads, generator batches of %d; %s)\n", *device, *threads, *batch, *modelPath)
}

func dur(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}
