package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/english"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
)

// estimateImages is how many calibration images quantize --estimate passes through the
// model: the passes are timed per image, and the set-up reads at most this many anyway.
const estimateImages = 256

// runEstimate prints how long the conversion opts describes would take (convert.Estimate),
// as a table or, with --json, as JSON.
func runEstimate(c *cli.Context, modelPath string, opts convert.Options) error {
	opts.ImagesReady, opts.GenProgress, opts.ReconProgress = nil, nil, nil
	est, err := convert.Estimate(c.Context, opts, 0)
	if err != nil {
		return otherRun(layerBitsNames(opts.Bits).Rename(fmt.Errorf("%s: %w", modelPath, err)), opts.WorkDir)
	}
	what := fmt.Sprintf("%s: W%dA%d, %s, %s preset", modelPath, opts.Bits.Weight, opts.Bits.Activation, est.Method, est.Preset)
	if est.Resumed {
		what += fmt.Sprintf(", what is left of the run in %s", opts.WorkDir)
	}
	if est.Preset == "fast" && est.Seconds > 3600 && !est.Resumed {
		logger(c).Info("hint: --preset quick runs the same stages with fewer steps, about a third of the fast preset's time for at most 0.15 points of top-1 on the Fashion-MNIST models (BENCHMARKS.md, \"The quick convert preset\"); --estimate --preset quick times it")
	}
	return printEstimate(c, what, est)
}

// quantizeEstimate prints how long quantize with opts on d would take
// (quantizer.Estimate on up to estimateImages of the images), as runEstimate does.
func quantizeEstimate(c *cli.Context, rt *ort.Runtime, modelPath string, m *ir.Model, d *calib.Dataset, preset string, opts quantizer.Options) error {
	start := time.Now()
	n := min(d.N, estimateImages)
	images := d.X[:n*(len(d.X)/d.N)]
	logger(c).Info(fmt.Sprintf("estimate: %d reconstruction steps of every block on %d images", 2+convert.DefaultEstimateSteps, n))
	qe, _, err := quantizer.Estimate(c.Context, rt, m, images, n, opts, convert.DefaultEstimateSteps)
	if err != nil {
		return layerBitsNames(opts.Bits).Rename(fmt.Errorf("%s: %w", modelPath, err))
	}
	iters := opts.Recon.Iters
	total := qe.Seconds(iters, d.N)
	other := total - float64(iters)*qe.StepSeconds
	done, err := quantizer.SavedBlocks(m, d.X, d.N, opts)
	if err != nil {
		return otherRun(fmt.Errorf("%s: %w", modelPath, err), opts.WorkDir)
	}
	what := fmt.Sprintf("%s: W%dA%d, %s preset, %d calibration images", modelPath, opts.Bits.Weight, opts.Bits.Activation, preset, d.N)
	if done > 0 {
		total = other + float64(iters)*qe.StepSecondsFrom(done)
		what += fmt.Sprintf(", what is left of the run in %s", opts.WorkDir)
	}
	est := &convert.TimeEstimate{Device: rt.Device(), Threads: rt.Threads(), Preset: preset, Seconds: total, Resumed: done > 0,
		Stages: []convert.StageEstimate{{Name: "reconstruct+export", Units: qe.Blocks, Done: done, Steps: iters, Parallel: 1, StepSeconds: qe.StepSeconds,
			OtherSeconds: other, Seconds: total}},
		Measured: time.Since(start).Seconds()}
	return printEstimate(c, what, est)
}

// generateEstimate prints how long generate with opts would take
// (generator.EstimateSynthesis), as runEstimate does.
func generateEstimate(c *cli.Context, rt *ort.Runtime, modelPath string, m *ir.Model, preset string, opts generator.Options) error {
	start := time.Now()
	logger(c).Info(fmt.Sprintf("estimate: %d synthesis steps of %d batch(es) of %d at once", 2+convert.DefaultEstimateSteps, opts.Workers(rt), opts.Batch))
	ge, _, err := generator.EstimateSynthesis(c.Context, rt, m, opts, convert.DefaultEstimateSteps)
	if err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	total := ge.Seconds(opts.Steps)
	est := &convert.TimeEstimate{Device: rt.Device(), Threads: rt.Threads(), Preset: preset, Seconds: total,
		Stages: []convert.StageEstimate{{Name: "generate", Units: ge.Batches, Steps: opts.Steps, Parallel: ge.Parallel, StepSeconds: ge.StepSeconds,
			OtherSeconds: ge.OtherSeconds(), SetupSeconds: float64(ge.Setups()) * ge.SetupSeconds, Seconds: total}},
		Measured: time.Since(start).Seconds()}
	return printEstimate(c, fmt.Sprintf("%s: %s preset, %d images", modelPath, preset, opts.Images), est)
}

// printEstimate writes est as JSON (--json) or as a line that begins with what and a table
// of the stages.
func printEstimate(c *cli.Context, what string, est *convert.TimeEstimate) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, est)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s, on %s with %s: about %s (from %d timed steps of each stage, in %s)\n",
		what, est.Device, english.Count(est.Threads, "thread"), roundedDuration(est.Seconds), convert.DefaultEstimateSteps, roundedDuration(est.Measured))
	return stageTable(w, est.Stages)
}

// stageTable writes one row per stage: its units, steps, time per step, time outside the
// steps and total.
func stageTable(w io.Writer, stages []convert.StageEstimate) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tUNITS\tSTEPS EACH\tPER STEP\tOTHER\tTIME")
	for _, st := range stages {
		units := english.Count(st.Units, "block")
		if st.Name == "generate" || st.Name == "refine" {
			units = english.Count(st.Units, "batch")
			if st.Parallel > 1 {
				units += fmt.Sprintf(", %d at once", st.Parallel)
			}
		}
		if st.Done > 0 {
			units += fmt.Sprintf(", %d done", st.Done)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3gs\t%s\t%s\n", st.Name, units, st.Steps, st.StepSeconds, roundedDuration(st.OtherSeconds), roundedDuration(st.Seconds))
	}
	return tw.Flush()
}

// roundedDuration formats seconds as a duration to the second (to the tenth under 10 s).
func roundedDuration(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
