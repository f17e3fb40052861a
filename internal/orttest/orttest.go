// Package orttest helps tests obtain an ort.Runtime. Tests that need the
// ONNX Runtime library call Runtime; when the library cannot be found the
// test is skipped, or fails if SHARPQ_REQUIRE_ORT=1 (as `make test` sets).
package orttest

import (
	"os"
	"strconv"
	"testing"

	"github.com/sharpq/sharpq/ort"
)

// EnvRequire is the environment variable that, when set to 1, turns a
// missing ONNX Runtime library into a test failure instead of a skip.
const EnvRequire = "SHARPQ_REQUIRE_ORT"

// EnvThreads is the environment variable giving the intra-op thread count
// for Runtime (0 or unset: the ONNX Runtime default).
const EnvThreads = "SHARPQ_THREADS"

// Required reports whether SHARPQ_REQUIRE_ORT=1 is set.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// LibPath returns the ONNX Runtime library path found by ort.FindLibrary,
// or skips t (fails it when Required) if there is none.
func LibPath(t testing.TB) string {
	t.Helper()
	lib, err := ort.FindLibrary("")
	if err != nil {
		unavailable(t, err)
	}
	return lib
}

// Runtime opens a CPU ort.Runtime on the library found by ort.FindLibrary,
// with the intra-op thread count from SHARPQ_THREADS, and closes it when the
// test ends. If the library cannot be found the test is skipped, or fails
// when SHARPQ_REQUIRE_ORT=1.
func Runtime(t testing.TB) *ort.Runtime {
	t.Helper()
	lib := LibPath(t)
	threads := 0
	if s := os.Getenv(EnvThreads); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("orttest: %s=%q: want a non-negative integer", EnvThreads, s)
		}
		threads = n
	}
	rt, err := ort.Open(ort.Options{LibPath: lib, Device: ort.DeviceCPU, Threads: threads})
	if err != nil {
		t.Fatalf("orttest: %v", err)
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("orttest: close runtime: %v", err)
		}
	})
	return rt
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("orttest: %s=1 but the ONNX Runtime library is unavailable: %v", EnvRequire, err)
	}
	t.Skipf("skipping: ONNX Runtime library unavailable (set %s=1 to make this fatal): %v", EnvRequire, err)
}
