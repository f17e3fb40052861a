package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/testmodels"
)

// fullDiskScript mounts a 64 KiB tmpfs on $1 in a private mount namespace, runs the rest of
// its arguments, lists what is left on the tmpfs into $2 and exits with the command's status.
const fullDiskScript = `dir=$1 listing=$2; shift 2
mount -t tmpfs -o size=64k sharpq-full "$dir" || exit 97
"$@"; code=$?
ls -A "$dir" > "$listing"
exit $code`

// TestFullDisk runs a real quantize whose output folder is a 64 KiB file system, far smaller
// than the model: the write fails part way with ENOSPC. The run must fail with one line naming
// the output, and leave nothing on the disk (no output, no temporary file) while the
// checkpoint in --work-dir, on another disk, stays.
func TestFullDisk(t *testing.T) {
	orttest.LibPath(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) to mount a small file system: ", err)
	}
	if err := exec.Command(unshare, "-rm", "true").Run(); err != nil {
		t.Skip("this kernel refuses private mount namespaces (unshare -rm): ", err)
	}
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	work := filepath.Join(dir, "work")
	listing := filepath.Join(dir, "left-on-full-disk.txt")
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(full, "out.onnx")
	model, _ := filepath.Abs("../../testmodels/" + testmodels.DefaultModel)
	sub, _ := filepath.Abs("../../testmodels/" + testmodels.SubsetImages)
	cmd := exec.Command(unshare, "-rm", "sh", "-c", fullDiskScript, "sh", full, listing,
		os.Args[0], "quantize", "--model", model, "--calib-data", sub, "--calib-images", "64",
		"--mean", "0.2860", "--std", "0.3530", "--iters", "4", "--work-dir", work, "-o", out)
	cmd.Env = append(os.Environ(), "SHARPQ_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code == 97 {
		t.Skip("could not mount a tmpfs in a private namespace")
	}
	// Progress goes to stderr too (log lines, not a terminal): the error is the last line.
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	line := lines[len(lines)-1]
	if code == 0 || !strings.HasPrefix(line, "sharpq: error: ") {
		t.Fatalf("exit %d (%v), stderr %q: want an error line last", code, err, stderr.String())
	}
	if strings.Count(line, ".tmp-") > 0 {
		t.Errorf("error %q names the temporary file, not the output", line)
	}
	for _, w := range []string{out, "no space left on device"} {
		if !strings.Contains(line, w) {
			t.Errorf("error %q does not mention %q", line, w)
		}
	}
	left, err := os.ReadFile(listing)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(string(left)); s != "" {
		t.Errorf("left on the full disk: %q", s)
	}
	cps, _ := filepath.Glob(filepath.Join(work, "*.gob"))
	if len(cps) == 0 {
		t.Errorf("the checkpoint in --work-dir is gone")
	}
}
