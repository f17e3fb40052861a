package calib

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// streamBytes is the size of prepared (float32) images above which Open reads an .npy
// array batch by batch instead of into memory: ImageNet's validation set as one uint8
// array is 7.5 GB on disk and 30 GB as float32.
const streamBytes = 1 << 30

// npyImages reads the images of an .npy file batch by batch, prepared as LoadNPY prepares
// them. It implements Images.
type npyImages struct {
	path       string
	dtype      string
	order      binary.ByteOrder
	dataStart  int64
	n, srcC    int // images, and channels as stored
	c, h, w    int // as prepared
	p          Preprocess
	labels     []int64
	negative   bool
	sampleSize int64 // bytes of one stored image
}

// openNPYImages checks the .npy file at dataPath as LoadNPY does (a pass over float data
// for NaN and Inf, in pieces) without keeping its images; nil, nil when its header's
// version leaves the data's offset unknown, for the caller to load it whole instead.
func openNPYImages(dataPath, labelsPath string, p Preprocess) (*npyImages, error) {
	nf, err := openNPY(dataPath)
	if err != nil {
		return nil, err
	}
	defer nf.close()
	if nf.dataStart == 0 {
		return nil, nil
	}
	m := &npyImages{path: dataPath, dtype: nf.dtype, order: nf.order, dataStart: nf.dataStart, p: p}
	if m.c, err = npyImageDims(nf, p, &m.n, &m.srcC, &m.h, &m.w); err != nil {
		return nil, err
	}
	m.sampleSize = int64(m.srcC*m.h*m.w) * dtypeSizes[m.dtype]
	if fi, err := nf.f.Stat(); err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	} else if m.dataStart+int64(m.n)*m.sampleSize > fi.Size() {
		return nil, fmt.Errorf("calib: %s: file ends before its %d elements of shape %v", dataPath, nf.n, nf.shape)
	}
	if m.dtype != "u1" {
		// Float data is checked now, not when the batch holding a NaN is read.
		const chunk = 256
		x := make([]float32, min(chunk, m.n)*m.srcC*m.h*m.w)
		for start := 0; start < m.n; start += chunk {
			k := min(chunk, m.n-start)
			if err := m.decode(nf.f, start, x[:k*m.srcC*m.h*m.w]); err != nil {
				return nil, err
			}
			neg, err := checkFloats(dataPath, x[:k*m.srcC*m.h*m.w], start, m.srcC*m.h*m.w)
			if err != nil {
				return nil, err
			}
			m.negative = m.negative || neg
		}
	}
	if m.labels, err = loadLabels(labelsPath, dataPath, m.n); err != nil {
		return nil, err
	}
	return m, nil
}

// Dims returns the number of images and each one's channels, height and width as prepared.
func (m *npyImages) Dims() (n, c, h, w int) { return m.n, m.c, m.h, m.w }

// ImageLabels returns the labels, nil without a labels file.
func (m *npyImages) ImageLabels() []int64 { return m.labels }

// HasNegativeFloats reports that the float data held values below zero before normalisation,
// as Dataset.NegativeFloats does.
func (m *npyImages) HasNegativeFloats() bool { return m.negative }

// ReadImages reads images start, start+1, … from the file into dst, prepared.
func (m *npyImages) ReadImages(_ context.Context, start int, dst []float32) error {
	hw := m.h * m.w
	k, err := readCount(m.n, start, len(dst), m.c*hw)
	if err != nil {
		return err
	}
	f, err := os.Open(m.path)
	if err != nil {
		return fmt.Errorf("calib: %w", err)
	}
	defer f.Close()
	x := dst
	if m.srcC != m.c {
		x = make([]float32, k*m.srcC*hw)
	}
	if err := m.decode(f, start, x); err != nil {
		return err
	}
	if m.srcC != m.c {
		copy(dst, rgbToLuma(x, k, hw))
	}
	m.p.normalize(dst, m.c, hw)
	return nil
}

// decode reads the stored images start, start+1, … that x holds from f as float32, uint8
// scaled to [0,1], without normalising them.
func (m *npyImages) decode(f *os.File, start int, x []float32) error {
	size := dtypeSizes[m.dtype]
	b := make([]byte, int64(len(x))*size)
	if _, err := f.ReadAt(b, m.dataStart+int64(start)*m.sampleSize); err != nil {
		return fmt.Errorf("calib: %s: reading images %d to %d: %w", m.path, start, start+len(x)/(m.srcC*m.h*m.w), err)
	}
	switch m.dtype {
	case "u1":
		for i, v := range b {
			x[i] = float32(v) / 255
		}
	case "f4":
		for i := range x {
			x[i] = math.Float32frombits(m.order.Uint32(b[4*i:]))
		}
	case "f8":
		sl := m.srcC * m.h * m.w
		for i := range x {
			v := math.Float64frombits(m.order.Uint64(b[8*i:]))
			x[i] = float32(v)
			if err := checkFloat64(m.path, v, x[i], start+i/sl); err != nil {
				return err
			}
		}
	}
	return nil
}
