package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/testmodels"
)

// TestMain lets a test run this test binary as the sharpq command (SHARPQ_TEST_MAIN=1), so
// that a real process can be interrupted with SIGINT.
func TestMain(m *testing.M) {
	if os.Getenv("SHARPQ_TEST_MAIN") == "1" {
		os.Exit(run(os.Args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestInterruptAndResume interrupts a convert with SIGINT after its first generated batch,
// checks that it exits 130 without an output file, resumes it, and compares the result with
// an uninterrupted run: the bytes must be identical.
func TestInterruptAndResume(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	args := func(out, work string) []string {
		a := []string{"sharpq", "convert", model, "-o", out, "--wbits", "4", "--abits", "4", "--images", "16",
			"--gen-batch", "8", "--gen-steps", "30", "--warmup-iters", "5", "--refine-steps", "2", "--iters", "10", "--seed", "3"}
		if work != "" {
			a = append(a, "--work-dir", work, "--resume")
		}
		return a
	}
	whole := filepath.Join(dir, "whole.onnx")
	if code, _, stderr := sharpqArgs(args(whole, "")); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
	}

	work := filepath.Join(dir, "work")
	resumed := filepath.Join(dir, "resumed.onnx")
	cmd := exec.Command(os.Args[0], args(resumed, work)[1:]...)
	cmd.Env = append(os.Environ(), "SHARPQ_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(work, "generate.gob")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint after 5 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("interrupted run: exit %d (%v), want 130: %s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted; the progress is in "+work+": the same command with --resume") {
		t.Errorf("the interrupted run does not say how to continue: %s", stderr.String())
	}
	if _, err := os.Stat(resumed); !os.IsNotExist(err) {
		t.Fatal("an interrupted run left an output file")
	}
	// The first batch's generator waits for refinement in the work folder, where the resumed
	// run finds it.
	if _, err := os.Stat(filepath.Join(work, "generators", "generator-0000.bin")); err != nil {
		t.Errorf("the first batch's generator is not in the work folder: %v", err)
	}
	if code, _, stderr := sharpqArgs(args(resumed, work)); code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(resumed)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("resumed output (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}
}

func sharpqArgs(args []string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestInterruptLeavesNoGenerators interrupts a convert without --work-dir once its first
// generator is on disk: the temporary folder that held it goes with the run.
func TestInterruptLeavesNoGenerators(t *testing.T) {
	orttest.LibPath(t)
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "convert", "../../testmodels/"+testmodels.DefaultModel, "-o", filepath.Join(t.TempDir(), "q.onnx"),
		"--images", "16", "--gen-batch", "8", "--gen-steps", "30", "--gen-parallel", "1", "--threads", "1")
	cmd.Env = append(os.Environ(), "SHARPQ_TEST_MAIN=1", "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if found, _ := filepath.Glob(filepath.Join(tmp, "sharpq-generators-*", "generator-0000.bin")); len(found) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no generator on disk after 5 minutes: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130: %s", code, stderr.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the interrupted run left %s in the temporary folder", left[0].Name())
	}
}
