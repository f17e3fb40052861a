// Package report writes a run's report: report.json, report.md and PNG plots (gonum/plot) of
// the generation loss, the per-block reconstruction loss and the per-layer weight and activation SQNR.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/quantizer"
)

// Report is everything a quantize or convert run reports. Its JSON form is what `--json`
// prints and, with the generation curves and the image grid, what report.json holds: one
// schema for a pipeline whichever it reads.
type Report struct {
	Command string `json:"command"` // quantize or convert
	Model   string `json:"model"`   // the float model's path, as given
	Output  string `json:"output"`  // "" when a quality gate refused the model
	// Refused is why a quality gate kept the model from being written ("" when it was).
	Refused string `json:"refused,omitempty"`
	// Method is how convert made its calibration images (sadag or genie); "" for quantize.
	Method   string `json:"method,omitempty"`
	Preset   string `json:"preset"`   // fast, quick or paper; convert's "custom" for a schedule without a name
	WBits    int    `json:"wbits"`    // default weight bits; the first, last or per-layer ones may differ
	ABits    int    `json:"abits"`    // default activation bits; the second and last layers' inputs may differ
	Iters    int    `json:"iters"`    // reconstruction steps per block (0: round-to-nearest)
	Rounding string `json:"rounding"` // as the sharpq.rounding metadata: adaround, flexround or nearest
	Seed     uint64 `json:"seed"`     // the run's random seed
	// Images is convert's synthetic images, or the calibration images quantize used (after
	// --mirror and --mixup).
	Images int `json:"images"`
	// Settings are the model's sharpq.* metadata and the run's other settings, for report.md.
	Settings  map[string]string       `json:"settings"`
	Stages    []quantizer.Stage       `json:"stages"`     // the run's timed parts, in order
	Seconds   float64                 `json:"seconds"`    // wall time of the whole run
	Blocks    []quantizer.BlockResult `json:"blocks"`     // per reconstructed block (none for round-to-nearest)
	Layers    []quantizer.LayerReport `json:"layers"`     // per quantized layer: bits and SQNR
	SelfCheck quantizer.SelfCheck     `json:"self_check"` // the exported model checked in ONNX Runtime
	// BiasCorrection is what --bias-correct did (nil without it).
	BiasCorrection *quantizer.BiasReport `json:"bias_correction,omitempty"`
	Bytes          int64                 `json:"bytes"`       // size of the written QDQ model; 0 when refused
	FPBytes        int64                 `json:"float_bytes"` // size of the float model's file; 0 when it cannot be read
	// Opset is the QDQ model's default-domain opset: 21 with 4-bit types (ONNX Runtime 1.19
	// or later) or the float model's own when later (to 26), 13 to 20 with --export-opset
	// (8-bit types).
	Opset int64 `json:"opset"`
	// GenLoss is the BNS loss of each generated batch at its first and last step (convert).
	GenLoss []convert.BatchLoss `json:"generation,omitempty"`
	// Refinement is SADAG refinement's outcome per batch (convert --method sadag).
	Refinement []convert.RefineBatch `json:"refinement,omitempty"`
	// Accuracy is measured when the run is given labelled images (--eval-data).
	Accuracy *Accuracy `json:"accuracy,omitempty"`
	// Generation holds the BNS loss after every step, one curve per generated batch: in
	// report.json and its plot, not in --json.
	Generation [][]float64 `json:"generation_bns,omitempty"`
	// ImageGrid is a PNG of the synthetic images the caller wrote into the report folder.
	ImageGrid string `json:"image_grid,omitempty"`
}

// Summary is r without what only report.json carries (the generation curves and the image
// grid): what `--json` prints.
func (r Report) Summary() Report {
	r.Generation, r.ImageGrid = nil, ""
	return r
}

// Accuracy is the top-1/top-5 (%) of the quantized and the float model on labelled images,
// and how often the quantized model picks the float model's top-1 class on them (%).
type Accuracy struct {
	Images    int     `json:"images"`               // labelled images measured
	Top1      float64 `json:"top1"`                 // quantized model's top-1 (%)
	Top5      float64 `json:"top5"`                 // quantized model's top-5 (%)
	FloatTop1 float64 `json:"float_top1"`           // float model's top-1 (%)
	FloatTop5 float64 `json:"float_top5"`           // float model's top-5 (%)
	Agreement float64 `json:"float_top1_agreement"` // images where the quantized top-1 is the float one (%)
}

// Write creates dir and writes report.json, report.md and the plots into it.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var plots []string
	if len(r.Generation) > 0 {
		if err := generationPlot(filepath.Join(dir, "generation.png"), r.Generation); err != nil {
			return err
		}
		plots = append(plots, "generation.png")
	}
	if len(r.Blocks) > 0 {
		if err := blockPlot(filepath.Join(dir, "reconstruction.png"), r.Blocks); err != nil {
			return err
		}
		plots = append(plots, "reconstruction.png")
	}
	if len(r.Layers) > 0 {
		if err := sqnrPlot(filepath.Join(dir, "sqnr.png"), r.Layers); err != nil {
			return err
		}
		plots = append(plots, "sqnr.png")
	}
	if r.ImageGrid != "" {
		plots = append(plots, r.ImageGrid)
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(markdown(r, plots)), 0o644)
}

func markdown(r *Report, plots []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# sharpq %s report\n\n", r.Command)
	if r.Refused != "" {
		fmt.Fprintf(&s, "- model: `%s`\n- output: **not written**: %s\n- total time: %.1f s\n", r.Model, r.Refused, r.Seconds)
	} else {
		fmt.Fprintf(&s, "- model: `%s`\n- output: `%s` (opset %d, %d bytes; float model %d bytes)\n- total time: %.1f s\n",
			r.Model, r.Output, r.Opset, r.Bytes, r.FPBytes, r.Seconds)
	}
	for _, k := range sortedKeys(r.Settings) {
		fmt.Fprintf(&s, "- %s: %s\n", k, r.Settings[k])
	}
	if a := r.Accuracy; a != nil {
		fmt.Fprintf(&s, "\n## Accuracy (%d labelled images)\n\n| model | top-1 (%%) | top-5 (%%) |\n| --- | --- | --- |\n| quantized | %.2f | %.2f |\n| float | %.2f | %.2f |\n\nThe quantized model picks the float model's top-1 class on %.2f%% of them.\n",
			a.Images, a.Top1, a.Top5, a.FloatTop1, a.FloatTop5, a.Agreement)
	}
	fmt.Fprintf(&s, "\n## Stages\n\n| stage | seconds |\n| --- | --- |\n")
	for _, st := range r.Stages {
		fmt.Fprintf(&s, "| %s | %.1f |\n", st.Name, st.Seconds)
	}
	c := r.SelfCheck
	fmt.Fprintf(&s, "\n## Self-check (%d calibration images)\n\n", c.Images)
	fmt.Fprintf(&s, "- ONNX Runtime QDQ vs fake-quant simulation: top-1 agreement %.2f%%, max logit difference %.3g (%.3g with graph optimizations off in both)\n", c.Agreement, c.MaxLogitDiff, c.UnoptimizedMaxLogitDiff)
	fmt.Fprintf(&s, "- QDQ vs float model: top-1 agreement %.2f%%, output SQNR %.1f dB\n", c.FloatAgreement, c.OutputSQNR)
	if c.Collapsed {
		fmt.Fprintf(&s, "- **warning: collapsed.** The quantized model agrees with the float model's top-1 on fewer than half the calibration images; it has lost most of the float model's behaviour. Try more bits or other reconstruction settings, and measure it on labelled images.\n")
	}
	if b := r.BiasCorrection; b != nil {
		verdict := "kept"
		if !b.Kept {
			verdict = "refused (it lowered the agreement); biases restored"
		}
		fmt.Fprintf(&s, "\n## Bias correction\n\n%d layers; top-1 agreement with the float model on the calibration images %.2f%% before, %.2f%% after: %s\n",
			b.Layers, b.AgreementBefore, b.AgreementAfter, verdict)
	}
	if len(r.Blocks) > 0 {
		fmt.Fprintf(&s, "\n## Reconstruction\n\n| block | kind | layers | loss (first 5%%) | loss (last 5%%) | seconds |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, b := range r.Blocks {
			fmt.Fprintf(&s, "| %s | %s | %d | %.4g | %.4g | %.1f |\n", b.Name, b.Kind, b.Layers, b.LossStart, b.LossEnd, b.Seconds)
		}
	}
	if len(r.Layers) > 0 {
		fmt.Fprintf(&s, "\n## Layers\n\nSQNR in dB. Input: the input quantizer's own noise on float activations. Output: the layer's output in the quantized model against the float model's (the error of every layer up to it), on up to 64 calibration images.\n\n")
		fmt.Fprintf(&s, "| # | layer | weight bits | input bits | weight SQNR | input SQNR | output SQNR |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for i, l := range r.Layers {
			in, insqnr := "float", "–"
			if l.InputBits > 0 {
				in, insqnr = fmt.Sprint(l.InputBits), fmt.Sprintf("%.1f", l.InputSQNR)
			}
			fmt.Fprintf(&s, "| %d | %s | %d | %s | %.1f | %s | %.1f |\n", i, l.Node, l.Bits, in, l.WeightSQNR, insqnr, l.OutputSQNR)
		}
	}
	if len(r.Generation) > 0 {
		fmt.Fprintf(&s, "\n## Generation\n\n| batch | BNS loss, first step | BNS loss, last step |\n| --- | --- | --- |\n")
		for i, g := range r.Generation {
			if len(g) > 0 {
				fmt.Fprintf(&s, "| %d | %.4g | %.4g |\n", i, g[0], g[len(g)-1])
			}
		}
	}
	if len(r.Refinement) > 0 {
		fmt.Fprintf(&s, "\n## SADAG refinement\n\nImage change: RMS of (refined − synthesised) over RMS of the synthesised images. Direction cosine: between the neighbour direction a step used (the step before's latent gradient) and its own, averaged over steps.\n\n| batch | loss, first step | loss, last step | L_GM | L_div | image change (%%) | direction cosine |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for i, b := range r.Refinement {
			fmt.Fprintf(&s, "| %d | %.4g | %.4g | %.4g | %.4g | %.2f | %.3f |\n", i, b.FirstLoss, b.Loss, b.GM, b.Div, 100*b.Change, b.DirCos)
		}
	}
	if len(plots) > 0 {
		s.WriteString("\n## Plots\n\n")
		for _, p := range plots {
			fmt.Fprintf(&s, "![%s](%s)\n", strings.TrimSuffix(p, ".png"), p)
		}
	}
	return s.String()
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func save(p *plot.Plot, path string, w vg.Length) error {
	if err := p.Save(w, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return nil
}

func generationPlot(path string, curves [][]float64) error {
	p := plot.New()
	p.Title.Text = "GENIE synthesis: BN-statistics loss"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "BNS loss (log10)"
	var lines []any
	for i, c := range curves {
		pts := make(plotter.XYs, 0, len(c))
		for j, v := range c {
			if v > 0 && !math.IsInf(v, 0) {
				pts = append(pts, plotter.XY{X: float64(j + 1), Y: math.Log10(v)})
			}
		}
		lines = append(lines, fmt.Sprintf("batch %d", i), pts)
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return save(p, path, 6*vg.Inch)
}

func blockPlot(path string, blocks []quantizer.BlockResult) error {
	p := plot.New()
	p.Title.Text = "Block reconstruction loss (log10)"
	start, end := make(plotter.Values, len(blocks)), make(plotter.Values, len(blocks))
	names := make([]string, len(blocks))
	for i, b := range blocks {
		start[i], end[i] = logOr0(b.LossStart), logOr0(b.LossEnd)
		names[i] = strings.TrimPrefix(b.Name, "block")
	}
	w := vg.Points(6)
	bs, err := plotter.NewBarChart(start, w)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	be, err := plotter.NewBarChart(end, w)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	bs.Color, be.Color = plotutil.Color(0), plotutil.Color(1)
	bs.Offset, be.Offset = -w/2, w/2
	p.Add(bs, be)
	p.Legend.Add("first 5% of steps", bs)
	p.Legend.Add("last 5% of steps", be)
	p.NominalX(names...)
	p.X.Label.Text = "block"
	return save(p, path, 8*vg.Inch)
}

func logOr0(v float64) float64 {
	if v <= 0 {
		return 0
	}
	return math.Log10(v)
}

func sqnrPlot(path string, layers []quantizer.LayerReport) error {
	p := plot.New()
	p.Title.Text = "SQNR per layer (dB)"
	series := []struct {
		name string
		get  func(quantizer.LayerReport) float64
	}{
		{"weights", func(l quantizer.LayerReport) float64 { return l.WeightSQNR }},
		{"input quantizer", func(l quantizer.LayerReport) float64 { return l.InputSQNR }},
		{"output vs float", func(l quantizer.LayerReport) float64 { return l.OutputSQNR }},
	}
	w := vg.Points(3)
	names := make([]string, len(layers))
	for i := range layers {
		names[i] = fmt.Sprint(i)
	}
	for k, sr := range series {
		v := make(plotter.Values, len(layers))
		for i, l := range layers {
			v[i] = sr.get(l)
		}
		b, err := plotter.NewBarChart(v, w)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		b.Color = plotutil.Color(k)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(k-1)
		p.Add(b)
		p.Legend.Add(sr.name, b)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	p.X.Label.Text = "layer (report.md lists them by index)"
	return save(p, path, 12*vg.Inch)
}
