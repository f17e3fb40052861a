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
// (Dataset.Subset takes some of its images). An image folder takes its
// labels from its subfolder names, so labels must then be "". Load reads
// either kind wholly into memory.
func Open(ctx context.Context, data, labels string, p Preprocess, n int) (Images, error) {
	if data == "" {
		return nil, fmt.Errorf("calib: no data path given: want a .npy file or an image folder")
	}
	fi, err := os.Stat(data)
	if err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	if fi.IsDir() {
		if labels != "" {
			return nil, fmt.Errorf("calib: labels file %s given, but %s is an image folder whose labels come from its subfolder names", labels, data)
		}
		return OpenImageFolder(ctx, data, p, n)
	}
	if strings.EqualFold(filepath.Ext(data), ".npy") {
		return LoadNPY(data, labels, p)
	}
	return nil, fmt.Errorf("calib: %s: want a .npy file or an image folder", data)
}
