package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/english"
	"github.com/sharpq/sharpq/quantizer"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Usage:     "synthesise calibration images from a model's BatchNormalization statistics (GENIE)",
		ArgsUsage: "MODEL.onnx",
		Description: "Writes DIR/images.npy (NCHW float32, normalised model inputs, as --calib-data takes them\n" +
			"without --mean/--std) and DIR/grid.png.",
		Flags: append([]cli.Flag{
			modelFlag("float ONNX model"),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "folder for images.npy and grid.png (required, but for --estimate)"},
			&cli.BoolFlag{Name: "estimate", Usage: "check the model and the settings, time a few synthesis steps with them, print how long the whole run would take here, and stop: nothing is written"},
			&cli.StringFlag{Name: "preset", Value: "fast", Usage: "fast (256 images × 500 steps), quick (256 × 200) or paper (1024 × 4000)"},
			&cli.IntFlag{Name: "images", DefaultText: "the preset's", Usage: "images to synthesise"},
			&cli.IntFlag{Name: "gen-steps", DefaultText: "the preset's", Usage: "steps per batch"},
			&cli.IntFlag{Name: "gen-batch", DefaultText: "128, as every preset", Usage: "images per generator"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed"},
			genParallelFlag(),
		}, runtimeFlags()...),
		Action: func(c *cli.Context) error {
			model, err := modelArg(c)
			if err != nil {
				return err
			}
			return runGenerate(c, model)
		},
	}
}

// genParallelFlag sets how many generator batches run at once. A GPU runs these small
// graphs mostly idle between kernel launches, so several batches side by side make images
// faster there; on CPU the default splits the threads between batches.
func genParallelFlag() cli.Flag {
	return &cli.IntFlag{Name: "gen-parallel", Usage: "generator batches synthesised at once (0 = one per thread on CPU, one on CUDA)"}
}

// generationSchedule is --preset's schedule with the synthesis flags that generate and convert
// share (--images, --gen-steps, --gen-batch) applied.
func generationSchedule(c *cli.Context) (convert.Schedule, error) {
	sched, err := convert.ScheduleByName(c.String("preset"))
	if err != nil {
		return sched, usageError{err}
	}
	for _, f := range []struct {
		flag string
		min  int
		dst  *int
	}{{"images", 1, &sched.Images}, {"gen-steps", 1, &sched.GenSteps}, {"gen-batch", 2, &sched.GenBatch}} {
		// Unset keeps the preset's value; 0, the flag's default, cannot be asked for.
		switch n := c.Int(f.flag); {
		case c.IsSet(f.flag) && n < f.min:
			return sched, usageError{fmt.Errorf("--%s %d: want %d or more (the %s preset's: %d)", f.flag, n, f.min, sched.Name, *f.dst)}
		case n > 0:
			*f.dst = n
		}
	}
	return sched, nil
}

// checkGenParallel refuses a negative --gen-parallel.
func checkGenParallel(c *cli.Context) error {
	if n := c.Int("gen-parallel"); n < 0 {
		return usageError{fmt.Errorf("--gen-parallel %d: want 0 or more batches", n)}
	}
	return nil
}

func runGenerate(c *cli.Context, modelPath string) error {
	sched, err := generationSchedule(c)
	if err != nil {
		return err
	}
	if err := checkGenParallel(c); err != nil {
		return err
	}
	estimate := c.Bool("estimate")
	if c.String("output") == "" && !estimate {
		return usageError{fmt.Errorf("--output is required (sharpq generate --help)")}
	}
	if err := checkFolderWritable("--output", c.String("output")); err != nil {
		return err
	}
	m, _, err := readModel(modelPath, readOptionsOf(c), true)
	if err != nil {
		return err
	}
	if err := quantizer.CheckFloat(m); err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	if bn := quantizer.InspectBN(m.Graph); bn.Nodes == 0 {
		return fmt.Errorf("%s: %w", modelPath, convert.ErrNoBNStats)
	}
	rt, err := openRuntime(c)
	if err != nil {
		return err
	}
	defer rt.Close()
	log := logger(c)
	if mc, err := checkMemory(m, sched, convert.GENIE, c.Int("gen-parallel")); err == nil {
		if mc.Over() {
			log.Warn("memory: " + mc.String())
		} else {
			log.Info("memory: " + mc.String())
		}
	}
	opts := generator.Options{
		Images: sched.Images, Batch: sched.GenBatch, Steps: sched.GenSteps, Seed: c.Uint64("seed"),
		Swing: sched.Swing, ModelName: modelPath, Parallel: c.Int("gen-parallel"),
		DiscardGenerators: true, // only the images are written
	}
	if estimate {
		return generateEstimate(c, rt, modelPath, m, sched.Name, opts)
	}
	log.Info(fmt.Sprintf("generate: GENIE synthesis of %s (%s per batch of %d)", english.Count(sched.Images, "image"), english.Count(sched.GenSteps, "step"), sched.GenBatch))
	start := time.Now()
	progress := genProgress(os.Stderr, log)
	opts.Progress = func(p generator.Progress) { progress("generate", p) }
	im, err := generator.Synthesize(c.Context, rt, m, opts)
	if err != nil {
		return err
	}
	log.Info(fmt.Sprintf("generate: done in %.0fs", time.Since(start).Seconds()))
	if err := saveImages(c.String("output"), m, im); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s: %d images %dx%dx%d (images.npy, grid.png)\n", c.String("output"), im.N, im.C, im.H, im.W)
	return err
}
