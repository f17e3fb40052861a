package generator

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
)

// BenchmarkGenieStep times one GENIE synthesis step at batch 128 (16 at 224×224) (generator forward, model
// forward with the BNS taps, image prior, gradients to the generator and the latents, two Adam
// updates), with and without swing, on the shared FMNIST models; shared/bench/torch_reference.py
// --batch 128 times PyTorch's genie_step (without swing). SHARPQ_PROFILE=prefix writes an ONNX
// Runtime profile of each session. SHARPQ_BENCH_MODEL=file.onnx adds that model at batch 16
// (the torchvision families of scripts/torchvision-families.py, for one).
func BenchmarkGenieStep(b *testing.B) {
	type model struct {
		arch, path string
		batch      int
	}
	models := []model{
		{"resnet20_fmnist", "resnet20_fmnist", 128},
		{"mobilenetv2_fmnist", "mobilenetv2_fmnist", 128},
		// At 224×224, at the batch --gen-batch 16 runs.
		{"resnet18_imagenet_arch", "imagenet_arch/resnet18_imagenet_arch", 16},
	}
	if p := os.Getenv("SHARPQ_BENCH_MODEL"); p != "" {
		models = append(models, model{strings.TrimSuffix(filepath.Base(p), ".onnx"), p, 16})
	}
	for _, c := range models {
		arch := c.arch
		for _, swing := range []bool{false, true} {
			name := arch + "/noswing"
			if swing {
				name = arch + "/swing"
			}
			b.Run(name, func(b *testing.B) {
				var m *ir.Model
				if strings.HasSuffix(c.path, ".onnx") {
					var err error
					if m, err = onnxio.Read(c.path); err != nil {
						b.Fatal(err)
					}
				} else {
					m = reftest.Model(b, sharedDir, c.path)
				}
				opts := Options{Swing: swing}
				if p := os.Getenv("SHARPQ_PROFILE"); p != "" {
					opts.Session.ProfilePrefix = p + "_" + arch
				}
				t0 := time.Now()
				ch, h, w, err := inputShape(m)
				if err != nil {
					b.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(1, 1))
				s, err := newSynth(orttest.Runtime(b), m, arch, opts, newGenerator(rng, c.batch, ch, h, w), rng)
				if err != nil {
					b.Fatal(err)
				}
				defer s.close()
				b.Logf("graph and session: %v", time.Since(t0))
				if _, _, _, err := s.step(); err != nil { // warm-up
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, _, _, err := s.step(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRefineStep times one SADAG refinement step at batch 128 on the bundled ResNet-20,
// with a stand-in quantized model (the float model with its classifier input rounded; a real
// fake-quant model costs more). SHARPQ_PROFILE=prefix writes an ONNX Runtime profile.
func BenchmarkRefineStep(b *testing.B) {
	rt := orttest.Runtime(b)
	fp := bundledModel(b)
	q := fakeQuant(b, 0.5)
	gen := newGenerator(rand.New(rand.NewPCG(1, 1)), 128, 1, 32, 32)
	opts := RefinePaper()
	if p := os.Getenv("SHARPQ_PROFILE"); p != "" {
		opts.Session.ProfilePrefix = p + "_refine"
	}
	t0 := time.Now()
	r, err := newRefiner(rt, fp, q, "resnet20", gen, 0, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer r.tr.Close()
	b.Logf("graph and session: %v", time.Since(t0))
	if _, err := r.tr.Step(); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.tr.Step(); err != nil {
			b.Fatal(err)
		}
		r.setDirection()
	}
}
