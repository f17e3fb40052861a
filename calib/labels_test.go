package calib

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/option"
)

// flatFolder writes images a.png … e.png (grey levels 0, 40, 80, 120, 160) into a new folder.
func flatFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"c.png", "a.png", "e.png", "b.png", "d.png"} {
		v := uint8(40 * (name[0] - 'a'))
		saveImage(t, dir, name, solid(2, 2, color.NRGBA{v, v, v, 255}))
	}
	return dir
}

// A folder without class subfolders takes its labels from a file: an .npy array or a text
// file of labels in name order, or of NAME LABEL lines in any order; Open's n then keeps each
// kept image's own label.
func TestOpenFlatFolderLabels(t *testing.T) {
	dir := flatFolder(t)
	files := t.TempDir()
	npyLabels := filepath.Join(files, "labels.npy")
	writeNPY(t, npyLabels, []int64{4, 3, 2, 1, 0})
	tests := []struct {
		name, file, content string
		n                   int
		want                []int64 // labels of the kept images
		wantImages          []int   // which images were kept (by name order)
		wantErr             string
	}{
		{name: "npy", file: npyLabels, want: []int64{4, 3, 2, 1, 0}},
		{name: "one a line", content: "4\n3\n2\n1\n0\n", want: []int64{4, 3, 2, 1, 0}},
		{name: "one a line, CRLF, blank lines", content: "4\r\n3\r\n\r\n2\r\n1\r\n0", want: []int64{4, 3, 2, 1, 0}},
		{name: "names", content: "e.png 9\nd.png 8\nc.png 7\nb.png 6\na.png 5\n", want: []int64{5, 6, 7, 8, 9}},
		{name: "names, comma and tab", content: "e.png,9\nd.png\t8\nc.png, 7\nb.png 6\na.png 5\n", want: []int64{5, 6, 7, 8, 9}},
		{name: "names, more than the folder holds", content: "x.png 1\na.png 5\nb.png 6\nc.png 7\nd.png 8\ne.png 9\n", want: []int64{5, 6, 7, 8, 9}},
		{name: "names, spread", content: "e.png 9\nd.png 8\nc.png 7\nb.png 6\na.png 5\n", n: 2, want: []int64{5, 7}, wantImages: []int{0, 2}},
		{name: "one a line, spread", content: "4\n3\n2\n1\n0\n", n: 3, want: []int64{4, 3, 1}, wantImages: []int{0, 1, 3}},
		{name: "too few", content: "4\n3\n", wantErr: "2 labels, one a line, but " + dir + " holds 5 images"},
		{name: "image without label", content: "a.png 1\nb.png 2\nc.png 3\ne.png 4\n", wantErr: "no label for d.png"},
		{name: "mixed", content: "a.png 1\n2\n", wantErr: "line 2: lines of a label alone and lines of a file name and a label are mixed"},
		{name: "not a number", content: "4\nthree\n", wantErr: `line 2: "three" is not a label`},
		{name: "negative", content: "a.png -1\n", wantErr: `line 1: "-1" is not a label`},
		{name: "three fields", content: "a.png 1 2\n", wantErr: "line 1 has 3 fields"},
		{name: "conflict", content: "a.png 1\na.png 2\n", wantErr: "line 2: a.png has label 2 here and 1 on an earlier line"},
		{name: "missing file", file: filepath.Join(files, "none.txt"), wantErr: "none.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = filepath.Join(files, fmt.Sprintf("%s.txt", tt.name))
				writeFile(t, files, filepath.Base(file), tt.content)
			}
			src, err := Open(context.Background(), dir, file, Preprocess{Grayscale: true}, tt.n)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				var bad *option.Error
				if !errors.As(err, &bad) || bad.Name != "Dataset.Labels" {
					t.Fatalf("error %q is not an *option.Error named Dataset.Labels", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := src.ImageLabels(); !slices.Equal(got, tt.want) {
				t.Fatalf("labels %v, want %v", got, tt.want)
			}
			images := tt.wantImages
			if images == nil {
				images = []int{0, 1, 2, 3, 4}
			}
			d, err := ReadAll(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			for k, i := range images {
				if got, want := d.X[4*k], float32(40*i)/255; math.Abs(float64(got-want)) > 1e-6 {
					t.Errorf("image %d is %g, want image %d (%g)", k, got, i, want)
				}
			}
		})
	}
}

// A labels file with class subfolders is refused (the folders give the labels), and a folder
// without labels can still be spread (--limit, --calib-images).
func TestOpenFolderLabelsRefused(t *testing.T) {
	dir := t.TempDir()
	saveImage(t, dir, "cat/a.png", solid(2, 2, color.NRGBA{0, 0, 0, 255}))
	files := t.TempDir()
	labels := filepath.Join(files, "labels.txt")
	writeFile(t, files, "labels.txt", "0\n")
	_, err := Open(context.Background(), dir, labels, Preprocess{Grayscale: true}, 0)
	checkErr(t, err, "labels file "+labels+" given, but "+dir+" is an image folder whose labels come from its subfolder names")

	src, err := Open(context.Background(), flatFolder(t), "", Preprocess{Grayscale: true}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _, _ := src.Dims(); n != 2 || src.ImageLabels() != nil {
		t.Fatalf("%d images, labels %v: want 2 without labels", n, src.ImageLabels())
	}
}
