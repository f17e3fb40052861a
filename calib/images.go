package calib

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Images is a set of prepared images that Evaluate reads batch by batch: a
// Dataset held in memory, or an ImageFolder that decodes its images as they
// are read.
type Images interface {
	// Dims returns the number of images and each one's channels, height
	// and width.
	Dims() (n, c, h, w int)
	// ImageLabels returns one class index per image, or nil when the
	// images have no labels.
	ImageLabels() []int64
	// ReadImages writes images start, start+1, … into dst, as many as it
	// holds (len(dst) / (c·h·w)), prepared to feed a model.
	ReadImages(ctx context.Context, start int, dst []float32) error
}

// Dims returns the number of images and each one's channels, height and width.
func (d *Dataset) Dims() (n, c, h, w int) { return d.N, d.C, d.H, d.W }

// ImageLabels returns d.Labels.
func (d *Dataset) ImageLabels() []int64 { return d.Labels }

// ReadImages copies images start, start+1, … into dst, as many as it holds.
func (d *Dataset) ReadImages(_ context.Context, start int, dst []float32) error {
	sl := d.SampleLen()
	n, err := readCount(d.N, start, len(dst), sl)
	if err != nil {
		return err
	}
	copy(dst, d.X[start*sl:(start+n)*sl])
	return nil
}

// Open opens data for reading batch by batch: an image folder as an
// ImageFolder, decoded as it is read, keeping n of its images spread evenly
// through it when n > 0 (OpenImageFolder); and a .npy file (with the labels
// file, which may be "") loaded whole into a Dataset by LoadNPY, whatever n
// (Dataset.Subset takes some of its images), unless its images would take
// more than 1 GiB as float32: then it is checked as LoadNPY checks it and
// read batch by batch from the file (Images without Subset; Head takes its
// first images). An image folder takes its labels from its subfolder names,
// so labels must then be "", unless it has no class subfolders: then labels,
// when given, is an .npy array of one label per image in name order, or a
// text file of one label a line in that order or of "NAME LABEL" lines
// (ImageNet's validation set as distributed: one folder of 50000 JPEGs and a
// list of their classes). Load reads either kind wholly into memory.
func Open(ctx context.Context, data, labels string, p Preprocess, n int) (Images, error) {
	if data == "" {
		return nil, fmt.Errorf("calib: no data path given: want a .npy file or an image folder")
	}
	fi, err := os.Stat(data)
	if err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	if fi.IsDir() {
		return openImageFolder(ctx, data, labels, p, n)
	}
	if strings.EqualFold(filepath.Ext(data), ".npy") {
		return openNPYData(data, labels, p)
	}
	return nil, fmt.Errorf("calib: %s: want a .npy file or an image folder", data)
}

// openNPYData is Open for an .npy file: in memory when its prepared images fit streamBytes.
func openNPYData(data, labels string, p Preprocess) (Images, error) {
	return openNPYDataAbove(data, labels, p, streamBytes)
}

func openNPYDataAbove(data, labels string, p Preprocess, limit int64) (Images, error) {
	nf, err := openNPY(data)
	if err != nil {
		return nil, err
	}
	big := int64(nf.n)*4 > limit
	nf.close()
	if big {
		m, err := openNPYImages(data, labels, p)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return m, nil
		}
	}
	return LoadNPY(data, labels, p)
}

// Head returns the first n images of src, or src itself when it holds no more than n.
func Head(src Images, n int) Images {
	if total, _, _, _ := src.Dims(); n <= 0 || n >= total {
		return src
	}
	if d, ok := src.(*Dataset); ok {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return d.Subset(idx)
	}
	return head{src, n}
}

type head struct {
	Images
	n int
}

func (h head) Dims() (n, c, height, w int) {
	_, c, height, w = h.Images.Dims()
	return h.n, c, height, w
}

func (h head) ImageLabels() []int64 {
	if l := h.Images.ImageLabels(); l != nil {
		return l[:h.n:h.n]
	}
	return nil
}

// HasNegativeFloats passes on what the images' source says of its float data.
func (h head) HasNegativeFloats() bool {
	m, ok := h.Images.(interface{ HasNegativeFloats() bool })
	return ok && m.HasNegativeFloats()
}

func (h head) ReadImages(ctx context.Context, start int, dst []float32) error {
	_, c, height, w := h.Dims()
	if _, err := readCount(h.n, start, len(dst), c*height*w); err != nil {
		return err
	}
	return h.Images.ReadImages(ctx, start, dst)
}

// ReadAll reads every image of src into a Dataset (src itself when it is one).
func ReadAll(ctx context.Context, src Images) (*Dataset, error) {
	if d, ok := src.(*Dataset); ok {
		return d, nil
	}
	n, c, h, w := src.Dims()
	d := &Dataset{N: n, C: c, H: h, W: w, X: make([]float32, n*c*h*w), Labels: src.ImageLabels()}
	if f, ok := src.(*ImageFolder); ok {
		d.ClassNames = f.ClassNames()
	}
	if m, ok := src.(interface{ HasNegativeFloats() bool }); ok {
		d.NegativeFloats = m.HasNegativeFloats()
	}
	if err := src.ReadImages(ctx, 0, d.X); err != nil {
		return nil, err
	}
	return d, nil
}

// HasNegativeFloats returns d.NegativeFloats.
func (d *Dataset) HasNegativeFloats() bool { return d.NegativeFloats }
