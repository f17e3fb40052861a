package main

import (
	"bytes"
	"encoding/gob"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/testmodels"
)

// generate --estimate prices the run its flags describe and writes nothing, not even into
// --output, which it does not need; without --estimate, --output is required.
func TestGenerateEstimate(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	code, stdout, stderr := sharpq(t, "generate", "../../testmodels/"+testmodels.DefaultModel, "--estimate", "--images", "16", "--gen-batch", "8",
		"--gen-steps", "40", "--threads", "2", "-o", filepath.Join(dir, "images"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"fast preset, 16 images, on cpu with 2 threads: about", "generate  2 batches, 2 at once  40 "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("--estimate wrote %s", left[0].Name())
	}
	if code, _, stderr := sharpq(t, "generate", "../../testmodels/"+testmodels.DefaultModel); code != 2 || !strings.Contains(stderr, "--output is required") {
		t.Errorf("generate without --output: exit %d, %q", code, stderr)
	}
}

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

// TestConvertStopsAfterRefinement interrupts a convert as its reconstruction starts: by then
// --save-images has written the final (refined) images, and the work folder holds images
// alone, no generators (they are only needed to refine, and would make a paper-preset
// folder too large to carry between machines). Resuming ends exactly as an uninterrupted run.
func TestConvertStopsAfterRefinement(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	imagesDir, work := filepath.Join(dir, "images"), filepath.Join(dir, "work")
	args := func(out string) []string {
		return []string{"convert", model, "-o", out, "--images", "16", "--gen-batch", "8", "--gen-steps", "10",
			"--warmup-iters", "2", "--refine-steps", "2", "--iters", "60", "--seed", "4"}
	}
	whole := filepath.Join(dir, "whole.onnx")
	if code, _, stderr := sharpq(t, args(whole)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
	}

	resumed := filepath.Join(dir, "resumed.onnx")
	cmd := exec.Command(os.Args[0], append(args(resumed), "--save-images", imagesDir, "--work-dir", work)...)
	cmd.Env = append(os.Environ(), "SHARPQ_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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
	if _, err := os.Stat(resumed); !os.IsNotExist(err) {
		t.Fatal("an interrupted run left an output file")
	}
	set, err := calib.LoadNPY(filepath.Join(imagesDir, "images.npy"), "", calib.Preprocess{})
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 16 {
		t.Fatalf("images.npy holds %d images, want 16", set.N)
	}
	for _, state := range []string{"generate", "refine"} {
		f, err := os.Open(filepath.Join(work, state+".gob"))
		if err != nil {
			t.Fatal(err)
		}
		var im generator.Images
		err = gob.NewDecoder(f).Decode(&im)
		f.Close()
		if err != nil {
			t.Fatalf("%s.gob: %v", state, err)
		}
		if len(im.Batches) != 2 || im.Batches[0].Generator != nil || im.Batches[1].Generator != nil {
			t.Errorf("%s.gob: %d batches, generators kept: want 2 batches without them", state, len(im.Batches))
		}
	}
	if _, err := os.Stat(filepath.Join(work, "refine-batches.gob")); !os.IsNotExist(err) {
		t.Error("the partial refinement state is still in the work folder")
	}
	if _, err := os.Stat(filepath.Join(work, "generators")); !os.IsNotExist(err) {
		t.Error("the synthesised generators are still in the work folder")
	}

	if code, _, stderr := sharpq(t, append(args(resumed), "--work-dir", work, "--resume")...); code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(whole)
	b, _ := os.ReadFile(resumed)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("resumed output (%d bytes) differs from the uninterrupted one (%d bytes)", len(b), len(a))
	}
}
