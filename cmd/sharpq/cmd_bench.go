package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "latency (batch 1) and throughput (batch 64) of a float model and its QDQ model in ONNX Runtime",
		ArgsUsage: "MODEL.onnx",
		Flags: append([]cli.Flag{
			modelFlag("float ONNX model"),
			&cli.StringFlag{Name: "quantized", Usage: "QDQ model made from it (optional)"},
			&cli.IntFlag{Name: "runs", Value: 50, Usage: "timed runs per measurement"},
			&cli.IntFlag{Name: "batch", Value: 64, Usage: "batch size of the throughput measurement"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		}, runtimeFlags()...),
		Action: runBench,
	}
}

// benchResult is one model's measurement; the JSON form of `sharpq bench --json` is a list.
type benchResult struct {
	Model        string  `json:"model"`
	Bytes        int64   `json:"bytes"`
	LatencyMs    float64 `json:"latency_ms_batch1"` // median
	ImagesPerSec float64 `json:"images_per_s"`
	Batch        int     `json:"batch"`
	Device       string  `json:"device"`
}

// maxBenchRuns bounds --runs and --batch: a million timed runs is far past a stable median.
const maxBenchRuns = 1_000_000

func runBench(c *cli.Context) error {
	for _, flag := range []string{"runs", "batch"} {
		if n := c.Int(flag); n <= 0 || n > maxBenchRuns {
			return usageError{fmt.Errorf("--%s %d: want 1 to %d", flag, n, maxBenchRuns)}
		}
	}
	model, err := modelArg(c)
	if err != nil {
		return err
	}
	rt, err := openRuntime(c)
	if err != nil {
		return err
	}
	defer rt.Close()
	var results []benchResult
	for _, flag := range []string{"model", "quantized"} {
		path := c.String(flag)
		if flag == "model" {
			path = model
		}
		if path == "" {
			continue
		}
		r, err := benchModel(rt, path, readOptionsOf(c), c.Int("runs"), c.Int("batch"))
		if err != nil {
			return fmt.Errorf("--%s: %w", flag, err)
		}
		if flag == "quantized" {
			if m, _, err := readModel(path, readOptionsOf(c), false); err == nil {
				if quantizer.CheckFloat(m) == nil {
					logger(c).Warn(fmt.Sprintf("--quantized %s has no QuantizeLinear/DequantizeLinear nodes: it is a float model, so the ratios compare two float models", path))
				}
				if fm, _, err := readModel(model, readOptionsOf(c), false); err == nil {
					if why := otherInterface(fm, m, model); why != "" {
						logger(c).Warn(fmt.Sprintf("--quantized %s %s: it was not made from it, so the ratios compare two different models", path, why))
					}
				}
			}
		}
		results = append(results, r)
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(results)
	}
	for _, r := range results {
		fmt.Fprintf(c.App.Writer, "%s: %d bytes, latency %.2f ms (batch 1, median), %.0f images/s (batch %d), %s\n",
			r.Model, r.Bytes, r.LatencyMs, r.ImagesPerSec, r.Batch, r.Device)
	}
	if len(results) == 2 {
		a, b := results[0], results[1]
		fmt.Fprintf(c.App.Writer, "quantized/float: size %.2f×, latency %.2f×, throughput %.2f×\n",
			float64(b.Bytes)/float64(a.Bytes), b.LatencyMs/a.LatencyMs, b.ImagesPerSec/a.ImagesPerSec)
	}
	return nil
}

func benchModel(rt *ort.Runtime, path string, ro readOptions, runs, batch int) (benchResult, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return benchResult{}, err
	}
	m, _, err := readModel(path, ro, true)
	if err != nil {
		return benchResult{}, err
	}
	if err := checkImagesFit("--batch", int64(batch), inputValues(m)); err != nil {
		return benchResult{}, err
	}
	timeRuns := func(b int) ([]time.Duration, error) {
		s, err := infer.Open(rt, m, infer.Config{Batch: b, AsWritten: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer s.Close()
		for i, x := 0, s.Input(); i < len(x); i++ {
			x[i] = float32(i%17) * 0.1
		}
		for i := 0; i < 3; i++ { // warm-up
			if err := s.Run(); err != nil {
				return nil, err
			}
		}
		d := make([]time.Duration, runs)
		for i := range d {
			t0 := time.Now()
			if err := s.Run(); err != nil {
				return nil, err
			}
			d[i] = time.Since(t0)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d, nil
	}
	lat, err := timeRuns(1)
	if err != nil {
		return benchResult{}, err
	}
	thr, err := timeRuns(batch)
	if err != nil {
		return benchResult{}, err
	}
	var total time.Duration
	for _, d := range thr {
		total += d
	}
	return benchResult{Model: path, Bytes: fi.Size(), LatencyMs: float64(lat[len(lat)/2].Microseconds()) / 1000,
		ImagesPerSec: float64(batch*runs) / total.Seconds(), Batch: batch, Device: rt.Device()}, nil
}

// otherInterface says how q's first input or output differs in shape from that of m, read
// from path (a dynamic dimension matches any), or "" when they agree, as a model and its
// quantized copy do.
func otherInterface(m, q *ir.Model, path string) string {
	same := func(a, b []int64) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] > 0 && b[i] > 0 && a[i] != b[i] {
				return false
			}
		}
		return true
	}
	switch mg, qg := m.Graph, q.Graph; {
	case len(mg.Inputs) == 0 || len(qg.Inputs) == 0 || len(mg.Outputs) == 0 || len(qg.Outputs) == 0:
		return ""
	case !same(mg.Inputs[0].Shape, qg.Inputs[0].Shape):
		return fmt.Sprintf("takes an input of shape %v where %s takes %v", qg.Inputs[0].Shape, path, mg.Inputs[0].Shape)
	case !same(mg.Outputs[0].Shape, qg.Outputs[0].Shape):
		return fmt.Sprintf("gives an output of shape %v where %s gives %v", qg.Outputs[0].Shape, path, mg.Outputs[0].Shape)
	}
	return ""
}
