package calib

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/testmodels"
)

// TestEvaluateLabels checks that Evaluate refuses labels the model cannot predict (negative,
// or not below its number of classes) as an *option.Error named Dataset.Labels, before any
// batch runs, instead of counting them as wrong.
func TestEvaluateLabels(t *testing.T) {
	rt := orttest.Runtime(t)
	m := testmodels.TinyResNet(1) // 1×8×8 images, 3 classes
	const n, sl = 4, 8 * 8
	x := make([]float32, n*sl)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	tests := []struct {
		name    string
		d       Dataset
		wantErr string // "" for no error; else it is about the setting its first word names
	}{
		{"labels below the classes", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, 1, 2, 2}}, ""},
		{"label = classes", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, 1, 3, 2}},
			"Dataset.Labels: label 3 of image 2 is not below the model's 3 classes"},
		{"label far above", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{57, 1, 2, 2}},
			"Dataset.Labels: label 57 of image 0 is not below the model's 3 classes"},
		{"negative label", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, -1, 2, 2}},
			"Dataset.Labels: label -1 of image 1 is negative"},
		{"labels short", Dataset{N: n, C: 1, H: 8, W: 8, X: x, Labels: []int64{0, 1}},
			"Dataset.Labels holds 2 labels for 4 images"},
		{"no labels", Dataset{N: n, C: 1, H: 8, W: 8, X: x}, "Dataset.Labels is empty"},
		{"X short", Dataset{N: n, C: 1, H: 8, W: 8, X: x[:sl], Labels: []int64{0, 1, 2, 2}},
			"Dataset.X holds 64 values for 4 images of 1×8×8 (256 values)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batches := 0
			res, err := Evaluate(context.Background(), rt, m, &tt.d, EvalOptions{Batch: 2, Progress: func(int, int) { batches++ }})
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" {
				if res.Images != n {
					t.Fatalf("evaluated %d images, want %d", res.Images, n)
				}
				return
			}
			if batches != 0 {
				t.Errorf("%d batches ran before the error", batches)
			}
			setting := strings.TrimSuffix(strings.Fields(tt.wantErr)[0], ":")
			var bad *option.Error
			if !errors.As(err, &bad) || bad.Name != setting {
				t.Errorf("error %q is not an *option.Error named %s (got %+v)", err, setting, bad)
			}
		})
	}
}
