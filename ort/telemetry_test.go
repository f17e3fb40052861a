package ort_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ort"
)

// envTelemetryChild makes the test binary, run again by TestTelemetryOff, load the library
// and run a session in a fresh process (telemetry starts once per process).
const envTelemetryChild = "SHARPQ_TEST_TELEMETRY_CHILD"

// TestTelemetryOff: a process that loads ONNX Runtime through this package leaves nothing in
// the temporary folder. The published Linux builds (1.29 and later) start Microsoft's 1DS
// telemetry when the environment is created unless told not to, and it leaves a session file
// and a debug log there; a process whose user keeps telemetry on (ORT_DISABLE_TELEMETRY=0)
// shows that this build does, so the first check can fail.
func TestTelemetryOff(t *testing.T) {
	if os.Getenv(envTelemetryChild) == "1" {
		rt, err := ort.Open(ort.Options{LibPath: orttest.LibPath(t), Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		runReluAdd(t, newReluAdd(t, rt), []float32{1, -2, 3, -4, 5, -6})
		return
	}
	lib := orttest.LibPath(t)
	child := func(extra ...string) []os.DirEntry {
		t.Helper()
		tmp := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestTelemetryOff$", "-test.count=1")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "ORT_DISABLE_TELEMETRY=") && !strings.HasPrefix(kv, "ORT_TELEMETRY_DISABLED=") && !strings.HasPrefix(kv, "TMPDIR=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, append([]string{envTelemetryChild + "=1", "TMPDIR=" + tmp, "SHARPQ_ORT_LIB=" + lib}, extra...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		left, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		return left
	}
	if left := child(); len(left) > 0 {
		t.Errorf("loading ONNX Runtime left %d files in the temporary folder, e.g. %s", len(left), left[0].Name())
	}
	if left := child("ORT_DISABLE_TELEMETRY=0"); len(left) == 0 {
		t.Logf("%s leaves nothing behind even with telemetry on (a build without it)", lib)
	} else {
		t.Logf("with telemetry on, %s leaves %d files, e.g. %s", lib, len(left), left[0].Name())
	}
}
