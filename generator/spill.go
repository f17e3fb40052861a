package generator

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/sharpq/sharpq/internal/atomicfile"
	"github.com/sharpq/sharpq/ir"
)

// A synthesised batch's generator is needed again only when SADAG refines the batch, after a
// warm-up reconstruction on all the images. At 224×224 each generator holds 103 M weights
// (0.4 GB): kept in memory, a few dozen of them cost more than the synthesis itself. With a
// spill folder (Options.SpillDir, RefineOptions.SpillDir) each one is written to disk as its
// batch finishes and read back when that batch is refined.

// spillMagic starts a spilled generator's file; the version follows it.
const (
	spillMagic   = "sharpq-generator"
	spillVersion = 1
)

// spillChunk is how many values a spilled generator is written and read in at a time:
// encoding a whole 103 M-weight tensor at once (binary.Write, binary.Read) would hold a
// second copy of it in bytes.
const spillChunk = 1 << 16

// spillName is the file, within the spill folder, that holds batch bi's generator.
func spillName(bi int) string { return fmt.Sprintf("generator-%04d.bin", bi) }

// spillGenerator writes g, batch bi's generator, into dir and returns the file's name. The
// file is the magic, version, C, H, W and batch as little-endian uint32s, then the latents and
// the weights in genParamNames order as little-endian float32s: exact, and no larger than the
// values. It is written to a temporary name and renamed when complete.
func spillGenerator(dir string, bi int, g *Generator) (name string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("generator: batch %d: spill folder: %w", bi, err)
	}
	name = spillName(bi)
	err = atomicfile.Write(filepath.Join(dir, name), func(w io.Writer) error {
		if _, err := io.WriteString(w, spillMagic); err != nil {
			return err
		}
		header := []uint32{spillVersion, uint32(g.C), uint32(g.H), uint32(g.W), uint32(g.Batch())}
		if err := binary.Write(w, binary.LittleEndian, header); err != nil {
			return err
		}
		buf := make([]byte, spillChunk*4)
		for _, t := range append([]*ir.Tensor{g.Z}, g.Params...) {
			for lo := 0; lo < len(t.F32); lo += spillChunk {
				part := t.F32[lo:min(lo+spillChunk, len(t.F32))]
				for i, v := range part {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
				}
				if _, err := w.Write(buf[:4*len(part)]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("generator: batch %d: writing its generator: %w", bi, err)
	}
	return name, nil
}

// loadGenerator reads the generator spillGenerator wrote as name into dir for batch bi. When
// reuse (a generator no longer needed) has the same shapes, the values are read into its
// buffers instead of new ones: at 224×224 a generator is 0.4 GB, and a refinement that drops
// each batch's generator reads the next one into the last one's.
func loadGenerator(dir, name string, bi int, reuse *Generator) (*Generator, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("generator: refine: batch %d: its generator: %w", bi, err)
	}
	defer f.Close()
	damaged := func(what string) error {
		return fmt.Errorf("generator: refine: batch %d: %s is damaged (%s)", bi, path, what)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(spillMagic))
	var header [5]uint32
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != spillMagic {
		return nil, damaged("not a spilled generator")
	}
	if err := binary.Read(r, binary.LittleEndian, header[:]); err != nil {
		return nil, damaged("truncated header")
	}
	if header[0] != spillVersion {
		return nil, damaged(fmt.Sprintf("version %d, want %d", header[0], spillVersion))
	}
	c, h, w, batch := int(header[1]), int(header[2]), int(header[3]), int(header[4])
	if c <= 0 || h <= 0 || w <= 0 || batch <= 0 || c > 1<<16 || h > 1<<16 || w > 1<<16 || batch > 1<<20 {
		return nil, damaged(fmt.Sprintf("shape %d×%d×%d, batch %d", c, h, w, batch))
	}
	g := &Generator{C: c, H: h, W: w}
	var reused []*ir.Tensor
	if reuse != nil && reuse.C == c && reuse.H == h && reuse.W == w && reuse.Batch() == batch {
		reused = append([]*ir.Tensor{reuse.Z}, reuse.Params...)
	}
	buf := make([]byte, spillChunk*4)
	// read fills the i-th tensor (the latents, then the weights).
	read := func(i int, name string, shape []int64) (*ir.Tensor, error) {
		var data []float32
		if reused != nil {
			data = reused[i].F32
		} else {
			data = make([]float32, ir.NumElements(shape))
		}
		for lo := 0; lo < len(data); lo += spillChunk {
			part := data[lo:min(lo+spillChunk, len(data))]
			if _, err := io.ReadFull(r, buf[:4*len(part)]); err != nil {
				return nil, damaged("truncated at " + name)
			}
			for j := range part {
				part[j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
			}
		}
		return ir.NewFloat32(name, shape, data), nil
	}
	if g.Z, err = read(0, "z", []int64{int64(batch), ZDim}); err != nil {
		return nil, err
	}
	for i, shape := range genParamShapes(c, h, w) {
		t, err := read(i+1, genParamNames[i], shape)
		if err != nil {
			return nil, err
		}
		g.Params = append(g.Params, t)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, damaged("data after the weights")
	}
	return g, nil
}
