package convert_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/internal/ort/orttest"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/testmodels"
)

// A setting Run cannot use is an *option.Error named as convert's API spells it, also where
// the check is another package's (ort's Options.LibPath is convert's Options.ORTLibrary).
func TestRunBadOptions(t *testing.T) {
	lib := orttest.LibPath(t)
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	tests := []struct {
		name string
		opts convert.Options
		want string // the setting the error names
	}{
		{"library not there", convert.Options{ORTLibrary: missing}, "Options.ORTLibrary"},
		{"negative threads", convert.Options{ORTLibrary: lib, Threads: -1}, "Options.Threads"},
		{"unknown device", convert.Options{ORTLibrary: lib, Device: "tpu"}, "Options.Device"},
		{"unknown method", convert.Options{ORTLibrary: lib, Method: "zeroq"}, "Options.Method"},
		{"negative mixtures", convert.Options{ORTLibrary: lib, Mixtures: -1}, "Options.Mixtures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Model = testmodels.TinyResNet(1)
			_, err := convert.Run(context.Background(), tt.opts)
			var bad *option.Error
			if !errors.As(err, &bad) {
				t.Fatalf("Run: %v, want an *option.Error", err)
			}
			if bad.Name != tt.want || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v (errors.As: %q), want it to name %s", err, bad.Name, tt.want)
			}
			if strings.Contains(err.Error(), "LibPath") {
				t.Errorf("Run: %v names ort's setting", err)
			}
		})
	}
}
