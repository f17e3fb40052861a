package main

import (
	"fmt"
	"math"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/onnxio"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Usage:     "synthesise calibration images from a model's BatchNormalization statistics (GENIE)",
		ArgsUsage: "MODEL.onnx",
		Description: "Writes DIR/images.npy (NCHW float32, normalised model inputs, as --calib-data takes them\n" +
			"without --mean/--std) and DIR/grid.png.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "folder for images.npy and grid.png"},
			&cli.StringFlag{Name: "preset", Value: "fast", Usage: "fast (256 images × 500 steps) or paper (1024 × 4000)"},
			&cli.IntFlag{Name: "images", Usage: "images to synthesise (overrides the preset)"},
			&cli.IntFlag{Name: "gen-steps", Usage: "steps per batch (overrides the preset)"},
			priorWeightFlag(),
			classWeightFlag(),
			&cli.Uint64Flag{Name: "seed", Usage: "random seed"},
		}, runtimeFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{fmt.Errorf("generate needs exactly one MODEL.onnx argument")}
			}
			return runGenerate(c, c.Args().First())
		},
	}
}

func runGenerate(c *cli.Context, modelPath string) error {
	sched, err := convert.ScheduleByName(c.String("preset"))
	if err != nil {
		return usageError{err}
	}
	if n := c.Int("images"); n > 0 {
		sched.Images = n
	}
	if n := c.Int("gen-steps"); n > 0 {
		sched.GenSteps = n
	}
	if sched.ClassWeight, err = classWeight(c); err != nil {
		return err
	}
	if sched.PriorWeight, err = priorWeight(c); err != nil {
		return err
	}
	m, err := onnxio.Read(modelPath)
	if err != nil {
		return err
	}
	rt, err := openRuntime(c)
	if err != nil {
		return err
	}
	defer rt.Close()
	progress := genProgress(os.Stderr, logger(c))
	im, err := generator.Synthesize(c.Context, rt, m, generator.Options{
		Images: sched.Images, Batch: sched.GenBatch, Steps: sched.GenSteps, Seed: c.Uint64("seed"),
		Swing: sched.Swing, ClassWeight: sched.ClassWeight, PriorWeight: sched.PriorWeight, ModelName: modelPath,
		Progress: func(p generator.Progress) { progress("generate", p) },
	})
	if err != nil {
		return err
	}
	if err := saveImages(c.String("output"), im); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s: %d images %dx%dx%d (images.npy, grid.png)\n", c.String("output"), im.N, im.C, im.H, im.W)
	return err
}

// priorWeightFlag is --prior-weight, shared by generate and convert.
func priorWeightFlag() cli.Flag {
	return &cli.Float64Flag{Name: "prior-weight", Value: 1, Usage: "weight of the image prior that pulls each synthetic image's mean to 0 and standard deviation to 1 (1 = the paper's; 0 leaves it out, so images differ in brightness and contrast as real ones do)"}
}

// priorWeight reads --prior-weight as generator.Options.PriorWeight (negative = off).
func priorWeight(c *cli.Context) (float64, error) {
	w := c.Float64("prior-weight")
	switch {
	case w < 0 || math.IsNaN(w) || math.IsInf(w, 0):
		return 0, usageError{fmt.Errorf("--prior-weight %g: want a weight ≥ 0", w)}
	case w == 0:
		return -1, nil
	case w == 1:
		return 0, nil // the paper's: the same graph and run key as before the flag existed
	}
	return w, nil
}

// classWeightFlag is --class-weight, shared by generate and convert.
func classWeightFlag() cli.Flag {
	return &cli.Float64Flag{Name: "class-weight", Usage: "add this weight × the float model's cross-entropy against an assigned class (image i gets class i mod K) to the generation loss, so every class gets its share of the images (0 = the paper's loss: BNS and image prior only)"}
}

// classWeight reads --class-weight.
func classWeight(c *cli.Context) (float64, error) {
	w := c.Float64("class-weight")
	if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return 0, usageError{fmt.Errorf("--class-weight %g: want a weight ≥ 0", w)}
	}
	return w, nil
}
