package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/inspect"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/quantizer"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "summarise a model: inputs, operators, parameters, BN statistics, quantizable layers, blocks",
		ArgsUsage: "MODEL.onnx",
		Flags: []cli.Flag{
			modelFlag("ONNX model"),
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
			&cli.StringFlag{Name: "input-shape", Usage: inputShapeUsage},
			logitsFlag(),
			&cli.IntFlag{Name: "gen-batch", Value: convert.Fast().GenBatch, Usage: "estimate convert's memory with generator batches of this many images"},
			&cli.IntFlag{Name: "images", Value: convert.Fast().Images, Usage: "estimate convert's memory for this many synthetic images"},
		},
		Action: func(c *cli.Context) error {
			model, err := modelArg(c)
			if err != nil {
				return err
			}
			if c.Int("gen-batch") < 2 {
				return usageError{fmt.Errorf("--gen-batch %d: want 2 or more images", c.Int("gen-batch"))}
			}
			if c.Int("images") < 1 {
				return usageError{fmt.Errorf("--images %d: want 1 or more", c.Int("images"))}
			}
			sched := convert.Fast()
			sched.GenBatch, sched.Images = c.Int("gen-batch"), c.Int("images")
			if err := sched.Validate(); err != nil {
				return usageError{err}
			}
			return runInspect(c.App.Writer, model, readOptionsOf(c), sched, c.Bool("json"))
		},
	}
}

func runInspect(w io.Writer, path string, ro readOptions, sched convert.Schedule, asJSON bool) error {
	m, form, err := readModel(path, ro, true)
	if err != nil {
		return err
	}
	r, err := inspect.Model(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.ChannelsLast, r.PixelInput = form.channelsLast, form.pixels
	if form.extra != nil {
		for _, v := range form.extra.Values() {
			r.Outputs = append(r.Outputs, inspect.TensorOf(v))
		}
		r.KeptOutputs = form.extra.Names()
	}
	if form.pixels && len(r.Inputs) == 1 {
		r.Inputs[0].DType = ir.Uint8.String() // the file's interface, not the float one sharpq reads
	}
	var memLines []string
	// A quantized model has nothing to quantize, so no estimate; one without BN statistics
	// only quantize takes.
	if r.Quantized == "" {
		hasBN, users := quantizer.InspectBN(m.Graph).Nodes > 0, "quantize"
		if mc, err := checkMemory(m, sched, convert.SADAG, 1); hasBN && err == nil {
			e := mc.Estimate
			r.Memory = &inspect.Memory{GenBatch: sched.GenBatch, Images: sched.Images, Bytes: e.Bytes, PerImage: e.PerImage, ActivationBytes: e.ActivationBytes,
				DiskBytes: e.Disk, Available: mc.Available, FitsBatch: mc.Fits}
			memLines, users = append(memLines, "convert: "+mc.String()), "convert and quantize"
		}
		if rm, err := quantizer.EstimateReconMemory(m); err == nil {
			if r.Memory == nil {
				r.Memory = &inspect.Memory{Available: availableMemory()}
			}
			r.Memory.ReconPerImage, r.Memory.ReconBlock = rm.PerImage, rm.Block
			memLines = append(memLines, fmt.Sprintf("reconstruction (%s): %s per calibration image beside the image (%s's inputs and output, quantized and float, held for all images)", users, gb(rm.PerImage), rm.Block))
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s (IR %d, opset %d, %s)\n", path, r.IRVersion, r.Opset, strings.TrimSpace(r.Producer))
	if r.Opset > 0 && r.Opset < ir.BaseOpset {
		fmt.Fprintf(tw, "opset\t%d is raised to %d for quantization (attributes that later opsets take as inputs are rewritten); the QDQ export is opset %d (--export-opset %d–%d for runtimes without 4-bit types)\n", r.Opset, ir.BaseOpset, quantizer.QDQOpset, ir.BaseOpset, quantizer.QDQOpset-1)
	}
	for _, t := range r.Inputs {
		fmt.Fprintf(tw, "input\t%s %s %s\n", t.Name, t.DType, t.ShapeString())
	}
	for _, t := range r.Outputs {
		fmt.Fprintf(tw, "output\t%s %s %s\n", t.Name, t.DType, t.ShapeString())
	}
	if r.ChannelsLast {
		fmt.Fprintf(tw, "layout\tchannels-last input with a Transpose to channels-first: shown, synthesised and evaluated channels-first (data as N×C×H×W); quantized models keep the channels-last input\n")
	}
	if len(r.KeptOutputs) > 0 {
		fmt.Fprintf(tw, "outputs\t%s is taken as the logits (synthesis, reconstruction, self-check and eval use it); %s kept: quantized models compute them in float from their own values\n",
			r.Outputs[0].Name, strings.Join(r.KeptOutputs, ", "))
	}
	if r.PixelInput {
		fmt.Fprintf(tw, "pixels\tuint8 input cast to float: shown, synthesised and evaluated as float32 images in [0,1] (uint8 data is scaled so); quantized models keep the uint8 input\n")
	}
	if r.Precision != "" {
		fmt.Fprintf(tw, "precision\t%s\n", r.Precision)
	}
	fmt.Fprintf(tw, "parameters\t%d\n", r.Parameters)
	var ops []string
	for _, o := range r.Ops {
		ops = append(ops, fmt.Sprintf("%s %d", o.Op, o.Count))
	}
	fmt.Fprintf(tw, "operators\t%d nodes: %s\n", r.Nodes, strings.Join(ops, ", "))
	if r.Quantized != "" {
		fmt.Fprintf(tw, "quantized\t%s\n", r.Quantized)
	}
	fmt.Fprintf(tw, "batchnorm\t%s\n", r.BNStatus)
	if r.Normalisation != "" {
		fmt.Fprintf(tw, "normalise\t%s\n", r.Normalisation)
	}
	if r.Quantized != "" {
		// Its quantized layers and their weights' integer types; no blocks to reconstruct.
		types := map[string]int{}
		for _, l := range r.Layers {
			types[l.WeightType]++
		}
		var counts []string
		for _, t := range slices.Sorted(maps.Keys(types)) {
			counts = append(counts, fmt.Sprintf("%s %d", t, types[t]))
		}
		fmt.Fprintf(tw, "layers\t%d with integer weights (%s)\n", len(r.Layers), strings.Join(counts, ", "))
		if r.Grids != "" {
			fmt.Fprintf(tw, "grids\t%s\n", r.Grids)
		}
		if r.Runtime != "" {
			fmt.Fprintf(tw, "runtime\t%s\n", r.Runtime)
		}
		tw.Flush()
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LAYER\tOP\tWEIGHT\tSHAPE\tTYPE")
		for _, l := range r.Layers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", l.Node, layerOp(l), l.Weight, l.WeightShape, l.WeightType)
		}
		return tw.Flush()
	}
	fmt.Fprintf(tw, "training\t%s\n", r.Training)
	fmt.Fprintf(tw, "layers\t%d quantizable\n", len(r.Layers))
	fmt.Fprintf(tw, "blocks\t%d (%d residual)\n", len(r.Blocks), r.Residual)
	for _, l := range memLines {
		fmt.Fprintf(tw, "memory\t%s\n", l)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BLOCK\tKIND\tLAYER\tOP\tWEIGHT\tSHAPE")
	layerByNode := map[string]inspect.Layer{}
	for _, l := range r.Layers {
		layerByNode[l.Node] = l
	}
	for _, b := range r.Blocks {
		for i, name := range b.Layers {
			l := layerByNode[name]
			blk, kind := b.Name, b.Kind
			if i > 0 {
				blk, kind = "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", blk, kind, l.Node, layerOp(l), l.Weight, l.WeightShape)
		}
		if len(b.Layers) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t\t\t\n", b.Name, b.Kind)
		}
	}
	return tw.Flush()
}

// layerOp is l's operator, with a grouped convolution's groups (Conv/g32).
func layerOp(l inspect.Layer) string {
	if l.Group > 1 {
		return fmt.Sprintf("Conv/g%d", l.Group)
	}
	return l.Op
}
