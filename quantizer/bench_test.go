package quantizer

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/train"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

// BenchmarkReconstructionStep times one W2A4 reconstruction step (forward, gradients, Adam)
// at minibatch 32, the unit of the `fast` and `paper` presets' cost: of the first residual
// block of the bundled ResNet-20 (16 channels at 32×32), and of mobilenetv2_fmnist's last two
// blocks before the classifier (features.17 with its 1×1 convolution to 1280 channels, and
// features.16), where that model's reconstruction spent most, and of ResNet-18's last residual
// block at 224×224 (../shared/models/imagenet_arch), where its weights weigh most.
// SHARPQ_PROFILE=prefix writes an ONNX Runtime profile.
func BenchmarkReconstructionStep(b *testing.B) {
	cases := []struct {
		name, path string
		block      int // index into Partition's blocks
	}{
		{"resnet20_block01", "../testmodels/" + testmodels.DefaultModel, 1},
		{"mobilenetv2_block15", "../../shared/models/mobilenetv2_fmnist.onnx", 15},
		{"mobilenetv2_block16", "../../shared/models/mobilenetv2_fmnist.onnx", 16},
		{"resnet18_imagenet_block08", "../../shared/models/imagenet_arch/resnet18_imagenet_arch.onnx", 8},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := os.Stat(tc.path); err != nil {
				b.Skipf("no %s", tc.path)
			}
			benchReconstructionStep(b, tc.path, tc.block)
		})
	}
}

func benchReconstructionStep(b *testing.B, path string, block int) {
	rt := orttest.Runtime(b)
	m, err := onnxio.Read(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := ir.Canonicalize(m); err != nil {
		b.Fatal(err)
	}
	if _, err := FoldBN(m); err != nil {
		b.Fatal(err)
	}
	if err := ir.InferShapes(m); err != nil {
		b.Fatal(err)
	}
	p, err := newPlan(m.Graph, DefaultBits(2, 4), false)
	if err != nil {
		b.Fatal(err)
	}
	if err := initWeights(m.Graph, p, 1); err != nil {
		b.Fatal(err)
	}
	for _, a := range p.Acts {
		a.Step = 0.1
	}
	blocks, err := Partition(m.Graph)
	if err != nil {
		b.Fatal(err)
	}
	bm, err := blockModel(m, blocks[block])
	if err != nil {
		b.Fatal(err)
	}
	sub := p.Subset(bm.Graph)
	sub.Acts = withoutValue(sub.Acts, blocks[block].Output)
	o := ReconOptions{Iters: 1}
	o.defaults()
	tg, err := buildTrainGraph(bm, sub, 32, o)
	if err != nil {
		b.Fatal(err)
	}
	g := &train.Group{LR: 1e-3}
	var params []*train.Param
	for i, wq := range tg.weights {
		w := tg.m.Graph.Initializer(wq.Weight)
		params = append(params, &train.Param{Name: tg.vNames[i], Group: g, Init: initRound(w.F32, wq)},
			&train.Param{Name: tg.swNames[i], Group: g, Init: wq.Scale})
	}
	for i, a := range tg.acts {
		params = append(params, &train.Param{Name: tg.saNames[i], Group: g, Init: []float32{a.Step}})
	}
	var cfg ort.SessionConfig
	if prefix := os.Getenv("SHARPQ_PROFILE"); prefix != "" {
		cfg.ProfilePrefix = prefix + "_reconstruction"
	}
	tr, err := train.New(rt, tg.m, train.Config{Loss: tg.loss, Params: params,
		Feeds: append([]string{tg.xq, tg.xfp, tg.yfp, tg.beta, tg.regw}, tg.masks...), Session: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	tr.Feed(tg.beta)[0] = 20
	if _, err := tr.Step(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInitWeights times the clipping search of every weight quantizer of torchvision's
// ResNet-18 (11.7 M weights at W4, ../shared/models/imagenet_arch), the set-up every quantize
// and convert of a model that size starts with, on one goroutine and on one per CPU.
func BenchmarkInitWeights(b *testing.B) {
	m, err := onnxio.Read("../../shared/models/imagenet_arch/resnet18_imagenet_arch.onnx")
	if err != nil {
		b.Skip(err)
	}
	if err := ir.Canonicalize(m); err != nil {
		b.Fatal(err)
	}
	if _, err := FoldBN(m); err != nil {
		b.Fatal(err)
	}
	p, err := newPlan(m.Graph, DefaultBits(4, 4), false)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				if err := initWeights(m.Graph, p, workers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
