package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/quantizer"
)

// stagePace estimates the time left in a stage of units (generator batches, blocks) that
// each run the same number of steps, from the pace of the steps done since its first report.
// Reports may come every step or every few steps. Units that a resumed run skipped never
// report and are not counted; units that run side by side (generation batches) report in
// turn and the pace counts their steps together.
type stagePace struct {
	start   time.Time
	initial int         // the step of the first report
	latest  map[int]int // unit → the last step it reported
}

// observe records that unit (numbered from 0 in the order the units start) of units reached
// step of steps at now, and returns the estimated time left in the stage, or 0 while the
// pace is not known yet.
func (p *stagePace) observe(now time.Time, unit, units, step, steps int) time.Duration {
	if p.latest == nil {
		p.start, p.initial, p.latest = now, step, map[int]int{}
	}
	p.latest[unit] = step
	first, done := unit, -p.initial
	for u, s := range p.latest {
		first = min(first, u)
		done += s
	}
	left := 0
	for u := first; u < units; u++ {
		left += steps - p.latest[u] // a unit not started yet counts whole
	}
	elapsed := now.Sub(p.start)
	if done <= 0 || elapsed <= 0 {
		return 0
	}
	return time.Duration(float64(elapsed) / float64(done) * float64(left))
}

// leftText formats an estimate of time left for a progress line ("" while unknown).
func leftText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return "~" + d.Round(time.Second).String() + " left"
}

// withLeft appends a log record's "left" attribute to attrs once the estimate is known.
func withLeft(left time.Duration, attrs ...any) []any {
	if left <= 0 {
		return attrs
	}
	return append(attrs, "left", left.Round(time.Second).String())
}

// genProgress prints generation and refinement progress: a rewritten line on a terminal, a
// log record every 30 s and at the end of every batch otherwise; both with the time the stage
// has left.
func genProgress(w *os.File, log *slog.Logger) func(string, generator.Progress) {
	tty := isTerminal(w)
	last := time.Now()
	paces := map[string]*stagePace{}
	return func(stage string, p generator.Progress) {
		pace := paces[stage]
		if pace == nil {
			pace = &stagePace{}
			paces[stage] = pace
		}
		now := time.Now()
		left := pace.observe(now, p.Batch, p.Batches, p.Step, p.Steps)
		done := p.Step == p.Steps
		if tty {
			fmt.Fprintf(w, "\r%s: batch %d/%d step %4d/%d  loss %.4g  bns %.4g  %s ", stage, p.Batch+1, p.Batches, p.Step, p.Steps, p.Loss, p.BNS, leftText(left))
			if done {
				fmt.Fprintln(w)
			}
			return
		}
		if done || now.Sub(last) > 30*time.Second {
			last = now
			log.Info("progress", withLeft(left, "stage", stage, "batch", p.Batch+1, "batches", p.Batches, "step", p.Step, "steps", p.Steps, "loss", p.Loss, "bns", p.BNS)...)
		}
	}
}

// reconProgress prints reconstruction progress of a stage (warm-up, reconstruct): a
// rewritten line on a terminal, a log record per block otherwise; both with the time the
// stage has left.
func reconProgress(w *os.File, log *slog.Logger) func(string, quantizer.ReconProgress) {
	tty := isTerminal(w)
	paces := map[string]*stagePace{}
	return func(stage string, p quantizer.ReconProgress) {
		pace := paces[stage]
		if pace == nil {
			pace = &stagePace{}
			paces[stage] = pace
		}
		left := pace.observe(time.Now(), p.Block, p.Blocks, p.Step, p.Steps)
		switch {
		case tty:
			fmt.Fprintf(w, "\r%s: block %d/%d %-8s step %5d/%d  loss %.4g  round %.4g  %s ", stage, p.Block+1, p.Blocks, p.Name, p.Step, p.Steps, p.Rec, p.Round, leftText(left))
			if p.Step == p.Steps {
				fmt.Fprintln(w)
			}
		case p.Step == p.Steps:
			log.Info("reconstructed", withLeft(left, "stage", stage, "block", p.Block+1, "blocks", p.Blocks, "name", p.Name, "loss", p.Rec, "round", p.Round)...)
		}
	}
}

// evalProgress prints evaluation progress: a rewritten line on a terminal, a log record every
// 30 s otherwise (an ImageNet validation set takes minutes); both with the time left.
func evalProgress(w *os.File, log *slog.Logger) func(done, total int) {
	tty := isTerminal(w)
	last := time.Now()
	var pace stagePace
	return func(done, total int) {
		now := time.Now()
		left := pace.observe(now, 0, 1, done, total)
		if tty {
			fmt.Fprintf(w, "\reval: %d/%d images  %s ", done, total, leftText(left))
			if done == total {
				fmt.Fprintln(w)
			}
			return
		}
		if done < total && now.Sub(last) > 30*time.Second {
			last = now
			log.Info("progress", withLeft(left, "stage", "eval", "images", done, "of", total)...)
		}
	}
}
