package calib

import (
	"math"
	"strings"
	"testing"
)

func TestPreprocessValidate(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name     string
		p        Preprocess
		channels int
		wantErr  string // "" for no error; else a substring of the error
	}{
		{"zero value", Preprocess{}, 3, ""},
		{"one mean and std", Preprocess{Mean: []float32{0.5}, Std: []float32{0.25}}, 3, ""},
		{"per channel", Preprocess{Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}, 3, ""},
		{"mean only", Preprocess{Mean: []float32{0.5}}, 1, ""},
		{"std only", Preprocess{Std: []float32{2}}, 1, ""},
		{"size", Preprocess{Size: 224}, 3, ""},
		{"resize and crop", Preprocess{Resize: 256, Crop: 224}, 3, ""},
		{"size and crop", Preprocess{Size: 256, Crop: 224}, 3, ""},
		{"mean count", Preprocess{Mean: []float32{1, 2}}, 3, "Preprocess.Mean has 2 values for 3-channel images: want 1 or 3"},
		{"std count", Preprocess{Std: []float32{1, 2, 3}}, 1, "Preprocess.Std has 3 values for 1-channel images: want 1"},
		{"std zero", Preprocess{Std: []float32{0}}, 1, "the 1st value of Preprocess.Std is 0: want a finite number > 0"},
		{"std negative", Preprocess{Std: []float32{1, -1, 1}}, 3, "the 2nd value of Preprocess.Std is -1"},
		{"std NaN", Preprocess{Std: []float32{nan}}, 1, "the 1st value of Preprocess.Std is NaN"},
		{"std Inf", Preprocess{Std: []float32{inf}}, 1, "the 1st value of Preprocess.Std is +Inf"},
		{"mean NaN", Preprocess{Mean: []float32{nan}}, 1, "the 1st value of Preprocess.Mean is NaN: want a finite number"},
		{"size negative", Preprocess{Size: -1}, 3, "Preprocess.Size = -1"},
		{"3rd std", Preprocess{Std: []float32{1, 1, 0}}, 3, "the 3rd value of Preprocess.Std is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate(tt.channels)
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestNormalize(t *testing.T) {
	// Two images, three channels of two values each.
	x := []float32{
		0, 1, 0, 1, 0, 1,
		0.5, 0.5, 0.25, 0.25, 2, 2,
	}
	p := Preprocess{Mean: []float32{0.5, 0.25, 0}, Std: []float32{0.5, 0.25, 2}}
	p.normalize(x, 3, 2)
	want := []float32{
		-1, 1, -1, 3, 0, 0.5,
		0, 0, 0, 0, 1, 1,
	}
	assertClose(t, x, want, 1e-6)
}

// checkErr fails t unless err matches want: nil for "", else an error
// starting with "calib: " and containing want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.HasPrefix(err.Error(), "calib: "):
		t.Fatalf("error %q lacks the \"calib: \" prefix", err)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func assertClose(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-float64(want[i])) > tol {
			t.Fatalf("value %d: got %v, want %v (tolerance %g)\ngot  %v\nwant %v", i, got[i], want[i], tol, got, want)
		}
	}
}

func TestOrdinal(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{1, "1st"}, {2, "2nd"}, {3, "3rd"}, {4, "4th"}, {11, "11th"}, {12, "12th"}, {13, "13th"},
		{21, "21st"}, {22, "22nd"}, {23, "23rd"}, {101, "101st"}, {111, "111th"}, {112, "112th"},
	}
	for _, tt := range tests {
		if got := ordinal(tt.n); got != tt.want {
			t.Errorf("ordinal(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
