package calib

import (
	"context"
	"fmt"
)

// Dataset is a set of preprocessed images, ready to feed a model, with
// their labels when known.
type Dataset struct {
	// N, C, H and W are the number of images, channels, height and width.
	N, C, H, W int
	// X holds the N images in NCHW order, preprocessed.
	X []float32
	// Labels holds one class index per image, or is nil when the data has
	// no labels.
	Labels []int64
	// ClassNames holds the class names of an image folder, indexed by
	// label; nil for .npy data.
	ClassNames []string
	// NegativeFloats reports that float .npy data held values below zero
	// before normalisation: pixels are never negative, so such arrays are
	// most likely normalised already (as sharpq generate writes them), and
	// a mean and std would normalise them a second time.
	NegativeFloats bool
}

// SampleLen returns the number of values in one image, C×H×W.
func (d *Dataset) SampleLen() int { return d.C * d.H * d.W }

// NumBatches returns how many batches of size images cover the dataset, the
// last one possibly short. It panics if size < 1.
func (d *Dataset) NumBatches(size int) int {
	if size < 1 {
		panic(fmt.Sprintf("calib: batch size %d < 1", size))
	}
	return (d.N + size - 1) / size
}

// Batch returns batch i of size images: images i×size up to (i+1)×size,
// fewer for the last batch. x and labels share memory with d (labels is nil
// when d has none) and n is the number of images in the batch, 0 when i is
// past the end. It panics if size < 1 or i < 0.
func (d *Dataset) Batch(i, size int) (x []float32, labels []int64, n int) {
	if size < 1 || i < 0 {
		panic(fmt.Sprintf("calib: batch %d of size %d", i, size))
	}
	start := i * size
	if start >= d.N {
		return nil, nil, 0
	}
	end := min(start+size, d.N)
	n = end - start
	sl := d.SampleLen()
	x = d.X[start*sl : end*sl : end*sl]
	if d.Labels != nil {
		labels = d.Labels[start:end:end]
	}
	return x, labels, n
}

// Subset returns a new dataset holding copies of the images (and labels) at
// the given indices, in the order given; indices may repeat. ClassNames is
// shared. It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	sl := d.SampleLen()
	out := &Dataset{
		N: len(idx), C: d.C, H: d.H, W: d.W,
		X:              make([]float32, len(idx)*sl),
		ClassNames:     d.ClassNames,
		NegativeFloats: d.NegativeFloats,
	}
	if d.Labels != nil {
		out.Labels = make([]int64, len(idx))
	}
	for j, i := range idx {
		if i < 0 || i >= d.N {
			panic(fmt.Sprintf("calib: subset index %d out of range [0,%d)", i, d.N))
		}
		copy(out.X[j*sl:(j+1)*sl], d.X[i*sl:(i+1)*sl])
		if d.Labels != nil {
			out.Labels[j] = d.Labels[i]
		}
	}
	return out
}

// Load reads a dataset wholly into memory from data, which is either a
// directory, read as an image folder by LoadImageFolder, or a .npy file,
// read with the labels file (which may be "") by LoadNPY. An image folder
// takes its labels from its subfolder names, or, without class subfolders,
// from the labels file as Open describes. ctx stops a long folder decoding.
// Open reads a folder batch by batch instead.
func Load(ctx context.Context, data, labels string, p Preprocess) (*Dataset, error) {
	src, err := Open(ctx, data, labels, p, 0)
	if err != nil {
		return nil, err
	}
	return ReadAll(ctx, src)
}
