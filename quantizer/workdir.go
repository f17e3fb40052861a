package quantizer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/sharpq/sharpq/internal/checkpoint"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/option"
)

// ErrOtherRun is returned (wrapped) when Options.Resume finds another run's progress in
// Options.WorkDir.
var ErrOtherRun = checkpoint.ErrOtherRun

// keyedSettings are the Options that decide what Quantize computes: a work folder resumes
// only a run whose model, images and keyedSettings match. Logging, metadata and the hooks
// are not in it. TestRunKeyCoversOptions keeps it in step with Options and ReconOptions.
type keyedSettings struct {
	Bits            Bits
	Symmetric       bool
	AsymmetricActs  bool
	FloatResidual   bool
	Recon           keyedRecon
	ActImages       int
	ActClipNorm     float64
	Equalize        bool
	EqualizeStreams bool
	BiasCorrection  bool
}

// keyedRecon are the ReconOptions that decide what reconstruction computes.
type keyedRecon struct {
	Iters, Batch                                   int
	LRWeightStep, LRActStep, LRRound, LRBias       float64
	Rounding                                       Rounding
	RoundWeight, BetaStart, BetaEnd, WarmUp, QDrop float64
	Seed                                           uint64
}

// openWorkDir opens o.WorkDir for the run of m on images and points o.Recon's resume and
// checkpoint at it.
func openWorkDir(o *Options, m *ir.Model, images []float32, n int) error {
	if o.WorkDir == "" {
		if o.Resume {
			return fmt.Errorf("quantizer: %w", option.Errorf("Options.Resume", "%s needs Options.WorkDir, the folder that holds the run's progress"))
		}
		return nil
	}
	if o.Recon.Resume != nil || o.Recon.Checkpoint != nil {
		return fmt.Errorf("quantizer: %w", option.Errorf("Options.WorkDir", "%s and ReconOptions.Resume or Checkpoint both keep the run's progress: set one of them"))
	}
	key, err := runKey(*o, m, images, n)
	if err != nil {
		return err
	}
	cp, err := checkpoint.Open(o.WorkDir, key, o.Resume)
	if err != nil {
		return err
	}
	var st ReconState
	ok, err := cp.Load("reconstruct", &st)
	if err != nil {
		return err
	}
	if ok {
		o.Recon.Resume = &st
	}
	o.Recon.Checkpoint = func(st ReconState) error { return cp.Save("reconstruct", st) }
	return nil
}

// runKey identifies the run of Quantize(m, images, n, o): its model, images and
// keyedSettings.
func runKey(o Options, m *ir.Model, images []float32, n int) (string, error) {
	r := o.Recon
	if r.Rounding == "" {
		r.Rounding = AdaRound
	}
	settings, err := json.Marshal(keyedSettings{
		Bits: o.Bits, Symmetric: o.Symmetric, AsymmetricActs: o.AsymmetricActs, FloatResidual: o.FloatResidual,
		Recon: keyedRecon{Iters: r.Iters, Batch: r.Batch, LRWeightStep: r.LRWeightStep, LRActStep: r.LRActStep, LRRound: r.LRRound, LRBias: r.LRBias,
			Rounding: r.Rounding, RoundWeight: r.RoundWeight, BetaStart: r.BetaStart, BetaEnd: r.BetaEnd, WarmUp: r.WarmUp, QDrop: r.QDrop, Seed: r.Seed},
		ActImages: o.ActImages, ActClipNorm: o.ActClipNorm, Equalize: o.Equalize, EqualizeStreams: o.EqualizeStreams, BiasCorrection: o.BiasCorrection,
	})
	if err != nil {
		return "", fmt.Errorf("quantizer: work folder key: %w", err)
	}
	model, err := onnxio.Encode(m)
	if err != nil {
		return "", fmt.Errorf("quantizer: work folder key: %w", err)
	}
	return checkpoint.Key([]byte("quantize"), model, imagesDigest(images, n), settings), nil
}

// imagesDigest is a SHA-256 of n and the images' values, hashed in pieces: a large
// calibration set is not copied.
func imagesDigest(images []float32, n int) []byte {
	h := sha256.New()
	var buf [4096]byte
	binary.LittleEndian.PutUint64(buf[:8], uint64(n))
	h.Write(buf[:8])
	for len(images) > 0 {
		k := min(len(images), len(buf)/4)
		for i, v := range images[:k] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		h.Write(buf[:4*k])
		images = images[k:]
	}
	return h.Sum(nil)
}
