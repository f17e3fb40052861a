package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/ort/orttest"
	"github.com/sharpq/sharpq/testmodels"
)

// TestGenerateParallel makes two batches side by side and one after the other, every session
// on one thread: --gen-parallel changes how long generation takes, never the images.
func TestGenerateParallel(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	var images [][]byte
	for _, parallel := range []string{"1", "2"} {
		out := filepath.Join(dir, "p"+parallel)
		code, _, stderr := sharpq(t, "generate", model, "-o", out, "--images", "16", "--gen-batch", "8", "--gen-steps", "10",
			"--seed", "5", "--threads", "1", "--gen-parallel", parallel)
		if code != 0 {
			t.Fatalf("--gen-parallel %s: exit %d: %s", parallel, code, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "images.npy"))
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, b)
	}
	if !bytes.Equal(images[0], images[1]) {
		t.Fatal("--gen-parallel 2 made other images than --gen-parallel 1")
	}
}

// TestConvertSavesImagesBeforeReconstruction interrupts a convert during its reconstruction:
// --save-images has already written the final (refined) images, so a run stopped there, or
// still going, has its calibration set on disk.
func TestConvertSavesImagesBeforeReconstruction(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	imagesDir := filepath.Join(dir, "images")
	out := filepath.Join(dir, "q.onnx")
	cmd := exec.Command(os.Args[0], "convert", model, "-o", out, "--images", "16", "--gen-batch", "8", "--gen-steps", "10",
		"--warmup-iters", "2", "--refine-steps", "2", "--iters", "100000", "--save-images", imagesDir)
	cmd.Env = append(os.Environ(), "SHARPQ_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	npy := filepath.Join(imagesDir, "images.npy")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(imagesDir, "grid.png")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no images after 5 minutes: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130 (interrupted in the reconstruction): %s", code, stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("an interrupted run left an output file")
	}
	set, err := calib.LoadNPY(npy, "", calib.Preprocess{})
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 16 {
		t.Fatalf("images.npy holds %d images, want 16", set.N)
	}
}
