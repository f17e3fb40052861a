// Command mksubset writes the committed evaluation subset: the first n
// images and labels of the Fashion-MNIST test set, with the same dtypes
// (uint8 images, int64 labels). Run it from the repository root:
//
//	go run ./testmodels/internal/mksubset
//
// The defaults read ../shared/data and write testmodels/fmnist_test1k_*.npy.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sharpq/sharpq/calib"
)

func main() {
	data := flag.String("data", "../shared/data/fmnist_test_u8.npy", "images to take the subset from (uint8, N×…)")
	labels := flag.String("labels", "../shared/data/fmnist_test_labels.npy", "labels of those images (1-D)")
	n := flag.Int("n", 1000, "number of leading images to keep")
	outData := flag.String("out-data", "testmodels/fmnist_test1k_u8.npy", "where to write the images")
	outLabels := flag.String("out-labels", "testmodels/fmnist_test1k_labels.npy", "where to write the labels")
	flag.Parse()
	if err := run(*data, *labels, *n, *outData, *outLabels); err != nil {
		fmt.Fprintln(os.Stderr, "mksubset: error:", err)
		os.Exit(1)
	}
}

func run(data, labels string, n int, outData, outLabels string) error {
	x, shape, err := calib.ReadNPYUint8(data)
	if err != nil {
		return err
	}
	y, yShape, err := calib.ReadNPYInt64(labels)
	if err != nil {
		return err
	}
	if len(shape) < 1 || len(yShape) != 1 || shape[0] != yShape[0] {
		return fmt.Errorf("%s has shape %v but %s has shape %v: want N×… images and N labels", data, shape, labels, yShape)
	}
	if n < 1 || n > shape[0] {
		return fmt.Errorf("-n %d: want 1 to %d (the images in %s)", n, shape[0], data)
	}
	per := len(x) / shape[0]
	subShape := append([]int{n}, shape[1:]...)
	if err := calib.SaveNPYUint8(outData, x[:n*per], subShape); err != nil {
		return err
	}
	if err := calib.SaveNPYInt64(outLabels, y[:n], []int{n}); err != nil {
		return err
	}
	fmt.Printf("wrote %s %v uint8 and %s [%d] int64\n", outData, subShape, outLabels, n)
	return nil
}
