package calib

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/ort"
)

// EvalOptions controls Evaluate.
type EvalOptions struct {
	// Batch is the images per session run (0 = DefaultEvalBatch); the last batch is
	// zero-padded.
	Batch int
	// Progress, when set, is called after each batch with the images done so far.
	Progress func(done, total int)
}

// DefaultEvalBatch is EvalOptions.Batch when it is 0, as sharpq eval's --batch.
const DefaultEvalBatch = 64

// EvalResult is what Evaluate measured.
type EvalResult struct {
	Accuracy
	Seconds      float64 // wall time of reading and running the batches, excluding session creation
	ImagesPerSec float64 // images over Seconds
}

// Evaluate runs m over the images of src in ONNX Runtime and measures top-1/top-5 accuracy
// against their labels. The images' shape must equal the model input's, and every label
// must be non-negative and below the model's number of classes (its output's width): a
// label out of range is an *option.Error named Dataset.Labels, reported before any batch
// runs. The next batch is read (an ImageFolder's decoded) while the model runs on this one.
// A half-precision model runs in its own types (float16 in ONNX Runtime), as its users run it.
func Evaluate(ctx context.Context, rt *ort.Runtime, m *ir.Model, src Images, opts EvalOptions) (EvalResult, error) {
	if src.ImageLabels() == nil {
		return EvalResult{}, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s is empty: evaluation needs the images' labels"))
	}
	var tally Tally
	secs, err := runBatches(ctx, rt, []*ir.Model{m}, src, opts, func(outs [][]float32, classes int, labels []int64) {
		tally.Add(outs[0], classes, labels)
	})
	if err != nil {
		return EvalResult{}, err
	}
	return EvalResult{Accuracy: tally.Accuracy(), Seconds: secs, ImagesPerSec: float64(tally.Images) / secs}, nil
}

// runBatches runs every model of models over the images of src, batch by batch, each batch
// read once for all of them, and passes each batch's outputs (one slice of k rows of classes
// values per model) and labels (nil when src has none) to visit. It checks what Evaluate
// documents first, and returns the seconds the batches took.
func runBatches(ctx context.Context, rt *ort.Runtime, models []*ir.Model, src Images, opts EvalOptions,
	visit func(outs [][]float32, classes int, labels []int64)) (float64, error) {
	n, _, _, _ := src.Dims()
	labels := src.ImageLabels()
	if opts.Batch == 0 {
		opts.Batch = DefaultEvalBatch
	}
	if opts.Batch < 0 {
		return 0, fmt.Errorf("calib: %w", option.Errorf("EvalOptions.Batch", "%s = %d: want a positive batch size, or 0 for %d", opts.Batch, DefaultEvalBatch))
	}
	if n == 0 {
		return 0, fmt.Errorf("calib: no images to run")
	}
	if labels != nil && len(labels) != n {
		return 0, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s holds %d labels for %d images", len(labels), n))
	}
	// A Dataset built by hand may not hold what N says; reading would slice past its end.
	if d, ok := src.(*Dataset); ok {
		if want := d.N * d.SampleLen(); len(d.X) != want {
			return 0, fmt.Errorf("calib: %w", option.Errorf("Dataset.X", "%s holds %d values for %d images of %d×%d×%d (%d values)",
				len(d.X), d.N, d.C, d.H, d.W, want))
		}
	}
	if i := negativeLabel(labels); i >= 0 {
		return 0, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: label %d of image %d is negative", labels[i], i))
	}
	batch := min(opts.Batch, n)
	sessions := make([]*infer.Session, len(models))
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	}()
	classes := 0
	for i, m := range models {
		if err := CheckInputShape(m, src); err != nil {
			return 0, err
		}
		s, err := infer.Open(rt, m, infer.Config{Batch: batch, AsWritten: true})
		if err != nil {
			return 0, err
		}
		sessions[i] = s
		if len(s.OutShape) != 2 {
			return 0, fmt.Errorf("calib: model output shape %v is not [batch, classes]", s.OutShape)
		}
		if i > 0 && int(s.OutShape[1]) != classes {
			return 0, fmt.Errorf("calib: the models have %d and %d classes", classes, s.OutShape[1])
		}
		classes = int(s.OutShape[1])
	}
	// TopK counts a label the model cannot output as wrong, which would only show as a low
	// accuracy after the whole run: refuse it before any batch.
	for i, l := range labels {
		if l >= int64(classes) {
			return 0, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: label %d of image %d is not below the model's %d classes", l, i, classes))
		}
	}
	sl := len(sessions[0].Input()) / batch
	start := time.Now()
	r := newPrefetcher(ctx, src, batch, sl)
	defer r.stop()
	outs := make([][]float32, len(sessions))
	done := 0
	for b := 0; b*batch < n; b++ {
		x, k, err := r.next()
		if err != nil {
			return 0, err
		}
		for i, s := range sessions {
			in := s.Input()
			copy(in, x)
			clear(in[len(x):])
			if err := s.Run(); err != nil {
				return 0, fmt.Errorf("calib: batch %d: %w", b, err)
			}
			outs[i] = s.Output()[:k*classes]
		}
		var bl []int64
		if labels != nil {
			bl = labels[b*batch : b*batch+k]
		}
		visit(outs, classes, bl)
		done += k
		if opts.Progress != nil {
			opts.Progress(done, n)
		}
	}
	return time.Since(start).Seconds(), nil
}

// prefetcher reads the batches of src one ahead of the caller, into two buffers in turn.
type prefetcher struct {
	ctx       context.Context
	src       Images
	n, batch  int
	sampleLen int
	bufs      [2][]float32
	ahead     int // the batch the pending read fills
	pending   chan error
}

func newPrefetcher(ctx context.Context, src Images, batch, sampleLen int) *prefetcher {
	n, _, _, _ := src.Dims()
	p := &prefetcher{ctx: ctx, src: src, n: n, batch: batch, sampleLen: sampleLen}
	for i := range p.bufs {
		p.bufs[i] = make([]float32, batch*sampleLen)
	}
	p.start()
	return p
}

// start reads batch p.ahead in the background, when there is one.
func (p *prefetcher) start() {
	first := p.ahead * p.batch
	if first >= p.n {
		p.pending = nil
		return
	}
	buf := p.bufs[p.ahead%2][:min(p.batch, p.n-first)*p.sampleLen]
	done := make(chan error, 1)
	p.pending = done
	go func() {
		if err := p.ctx.Err(); err != nil {
			done <- err
			return
		}
		done <- p.src.ReadImages(p.ctx, first, buf)
	}()
}

// next returns the next batch's images and how many there are, and starts reading the one
// after.
func (p *prefetcher) next() ([]float32, int, error) {
	if p.pending == nil {
		return nil, 0, fmt.Errorf("calib: reading past the last batch")
	}
	if err := <-p.pending; err != nil {
		p.pending = nil
		return nil, 0, err
	}
	b := p.ahead
	k := min(p.batch, p.n-b*p.batch)
	p.ahead++
	p.start()
	return p.bufs[b%2][:k*p.sampleLen], k, nil
}

// stop waits for a read still going, so that nothing writes the buffers after Evaluate.
func (p *prefetcher) stop() {
	if p.pending != nil {
		<-p.pending
		p.pending = nil
	}
}

// negativeLabel returns the index of the first negative label, or -1 when there is none.
func negativeLabel(labels []int64) int {
	for i, l := range labels {
		if l < 0 {
			return i
		}
	}
	return -1
}

// ErrInputShape is returned (wrapped) when images do not have the shape the model takes:
// resize or convert them (Preprocess.Size, Preprocess.Grayscale), or use other data.
var ErrInputShape = errors.New("images of the wrong shape")

// CheckInputShape reports a clear error when the images of src do not have the model
// input's per-image shape [C, H, W].
func CheckInputShape(m *ir.Model, src Images) error {
	_, c, h, w := src.Dims()
	if len(m.Graph.Inputs) != 1 {
		return fmt.Errorf("calib: model has %d inputs; sharpq evaluates models with one", len(m.Graph.Inputs))
	}
	if err := ir.CheckStaticInputs(m.Graph); err != nil {
		return fmt.Errorf("calib: %w", err)
	}
	in := m.Graph.Inputs[0]
	want := []int64{int64(c), int64(h), int64(w)}
	if len(in.Shape) != 4 {
		return fmt.Errorf("calib: model input %q has shape %v; sharpq needs NCHW images", in.Name, in.Shape)
	}
	for i, w := range want {
		if in.Shape[i+1] != w {
			return fmt.Errorf("calib: %w: data has images of shape %v but model input %q wants %v", ErrInputShape, want, in.Name, in.Shape[1:])
		}
	}
	return nil
}
