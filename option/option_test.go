package option

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestRename(t *testing.T) {
	names := Names{"calib.Preprocess.Size": "--size", "quantizer.Bits.Weight": "--wbits"}
	size := Errorf("calib.Preprocess.Size", "%s = 4: a.npy holds 2×2 images: set %[1]s to 0")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"renamed everywhere in its text", fmt.Errorf("calib: %w", size), "calib: --size 4: a.npy holds 2×2 images: set --size to 0"},
		{"wrapped twice", fmt.Errorf("--calib-data: %w", fmt.Errorf("calib: %w", size)), "--calib-data: calib: --size 4: a.npy holds 2×2 images: set --size to 0"},
		{"no name for it", Errorf("calib.Preprocess.Std", "%s value 1 is 0"), "calib.Preprocess.Std value 1 is 0"},
		{"not a setting", fmt.Errorf("calib: %w", fs.ErrNotExist), "calib: file does not exist"},
		{"renamed twice", fmt.Errorf("sharpq: %w", Names{"--size": "--calib-size"}.Rename(names.Rename(fmt.Errorf("calib: %w", size)))),
			"sharpq: calib: --calib-size 4: a.npy holds 2×2 images: set --calib-size to 0"},
		{"a flag with its argument", Names{`Bits.PerLayer["conv1"]`: "--layer-bits conv1"}.Rename(Errorf(`Bits.PerLayer["conv1"]`, "%s = 9: want 2 to 8 bits")),
			"--layer-bits conv1=9: want 2 to 8 bits"},
		{"name also in the wrapping text", fmt.Errorf("calib.Preprocess.Size: %w", size), "calib.Preprocess.Size: --size 4: a.npy holds 2×2 images: set --size to 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names.Rename(tt.err)
			if got.Error() != tt.want {
				t.Errorf("Rename: %q, want %q", got, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("Rename's result does not unwrap to the original error")
			}
			var e *Error
			if errors.As(tt.err, &e) && (!errors.As(got, &e) || !strings.Contains(tt.want, e.Text) || !strings.Contains(tt.want, e.Name)) {
				t.Errorf("errors.As on the renamed error: %+v, want the text shown", e)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	e := Errorf("ort.Options.Threads", "%s = %d: want 0 (one per core) or more", -1)
	if e.Name != "ort.Options.Threads" || e.Error() != "ort.Options.Threads = -1: want 0 (one per core) or more" {
		t.Errorf("Errorf: %+v", e)
	}
}
