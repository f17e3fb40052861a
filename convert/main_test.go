package convert_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ort"
)

// TestMain leaves the examples out when ONNX Runtime cannot be found, as the tests that need
// it skip (and fail under SHARPQ_REQUIRE_ORT=1, as make test sets): examples cannot skip.
func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := ort.FindLibrary(""); err != nil && !orttest.Required() {
		fmt.Fprintf(os.Stderr, "convert: examples not run: %v\n", err)
		flag.Set("test.run", "^Test")
	}
	os.Exit(m.Run())
}
