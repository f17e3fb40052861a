package quantizer

import (
	"crypto/sha256"
	"encoding/binary"
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

// unkeyedOptions and unkeyedRecon are the Options and ReconOptions that do not change what
// Quantize computes: a work folder resumes across them. Every other field is part of the
// run's key (checkpoint.Settings), also those added later.
var (
	unkeyedOptions = []string{"Metadata", "Log", "WorkDir", "Resume", "Recon"} // Recon is keyed on its own
	unkeyedRecon   = []string{"Progress", "ProgressEvery", "Session", "Resume", "Checkpoint"}
)

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

// SavedBlocks returns how many blocks the reconstruction of Quantize(ctx, rt, m, images, n, o)
// with o.Resume would find finished in o.WorkDir (0 for a folder without this run's
// progress), reading the folder without writing to it: for an estimate of what the resumed run
// has left. Another run's folder is an error wrapping ErrOtherRun, as Quantize's.
func SavedBlocks(m *ir.Model, images []float32, n int, o Options) (int, error) {
	if o.WorkDir == "" || !o.Resume {
		return 0, nil
	}
	key, err := runKey(o, m, images, n)
	if err != nil {
		return 0, err
	}
	cp, err := checkpoint.Peek(o.WorkDir, key)
	if err != nil || cp == nil {
		return 0, err
	}
	var st ReconState
	if _, err := cp.Load("reconstruct", &st); err != nil {
		return 0, err
	}
	return st.Blocks, nil
}

// runKey identifies the run of Quantize(m, images, n, o): its model, its images and every
// setting but the unkeyed ones.
func runKey(o Options, m *ir.Model, images []float32, n int) (*checkpoint.ID, error) {
	if o.Recon.Rounding == "" {
		o.Recon.Rounding = AdaRound
	}
	settings, err := checkpoint.Settings(o, unkeyedOptions...)
	if err != nil {
		return nil, fmt.Errorf("quantizer: work folder key: %w", err)
	}
	recon, err := checkpoint.Settings(o.Recon, unkeyedRecon...)
	if err != nil {
		return nil, fmt.Errorf("quantizer: work folder key: %w", err)
	}
	model, err := onnxio.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("quantizer: work folder key: %w", err)
	}
	id, err := checkpoint.NewID("quantize").Add("the model", model).Add("the calibration images", imagesDigest(images, n)).AddSettings("", settings)
	if err == nil {
		_, err = id.AddSettings("Recon", recon)
	}
	if err != nil {
		return nil, fmt.Errorf("quantizer: work folder key: %w", err)
	}
	return id, nil
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
