package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// TestInspectEstimatesMemory: inspect gives convert's memory estimate for the batch asked for,
// larger for a larger batch, and refuses a batch synthesis cannot use.
func TestInspectEstimatesMemory(t *testing.T) {
	model := "../../testmodels/" + testmodels.DefaultModel
	peak := map[string]int64{}
	for _, batch := range []string{"16", "128"} {
		code, stdout, stderr := sharpq(t, "inspect", "--json", "--gen-batch", batch, model)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var rep struct {
			Memory struct {
				GenBatch   int   `json:"gen_batch"`
				Bytes      int64 `json:"peak_bytes"`
				Activation int64 `json:"activation_bytes_per_image"`
			} `json:"convert_memory"`
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		// resnet20 at 1×32×32: 2.7 MB of float values per image (BENCHMARKS.md).
		if m := rep.Memory; strconv.Itoa(m.GenBatch) != batch || m.Activation < 2.6e6 || m.Activation > 2.8e6 {
			t.Errorf("--gen-batch %s: %+v", batch, m)
		}
		peak[batch] = rep.Memory.Bytes
	}
	if peak["16"] >= peak["128"] {
		t.Errorf("estimates %v: want a larger one for the larger batch", peak)
	}
	code, stdout, _ := sharpq(t, "inspect", model)
	if code != 0 || !strings.Contains(stdout, "memory      convert: about") {
		t.Errorf("exit %d, text without the memory line:\n%s", code, stdout)
	}
	if code, _, stderr := sharpq(t, "inspect", "--gen-batch", "1", model); code != 2 || !strings.Contains(stderr, "--gen-batch 1") {
		t.Errorf("--gen-batch 1: exit %d, %q; want a usage error naming the flag", code, stderr)
	}
}

// TestMemoryCheckAdvice: the memory line says what is available, the disk the generators
// take until refinement, and, when the estimate exceeds the memory, which generator batch
// would fit.
func TestMemoryCheckAdvice(t *testing.T) {
	e := convert.Memory{Fixed: 4e9, PerImage: 1e9, Parallel: 1, Images: 128}
	spilled := e
	spilled.Generator, spilled.Disk = 0.4e9, 0.4e9
	for _, tc := range []struct {
		name      string
		e         convert.Memory
		available int64
		want      []string
	}{
		{"fits", e, 200e9, []string{"about 132.0 GB", "for 128 images in generator batches of 128", "1.0 GB more per image", "200.0 GB available"}},
		// 85 % of 24 GB leaves 20.4: a batch of 16 images, 20 GB.
		{"too big", e, 24e9, []string{"24.0 GB available: the system may stop the run", "--gen-batch 16 would need about 20.0 GB"}},
		{"nothing fits", e, 3e9, []string{"at any generator batch"}},
		// The generators wait on disk: a small batch fits however many there are.
		{"generators on disk", spilled, 8e9, []string{"400 MB of disk for the generators until refinement", "--gen-batch 2 would need about 6.0 GB (and 25.6 GB of disk)"}},
		{"unknown", e, 0, []string{"about 132.0 GB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			est := tc.e
			est.Bytes = est.At(128, convert.SADAG)
			s := newMemoryCheck(est, 128, convert.SADAG, tc.available).String()
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("%q lacks %q", s, w)
				}
			}
			if tc.available == 0 && strings.Contains(s, "available") {
				t.Errorf("%q: says what is available without knowing", s)
			}
		})
	}
}

// TestReconMemoryRefused: a reconstruction on more images than the memory available can hold
// is refused at once, naming the flags that set the count and the block that needs the most,
// and nothing is written.
func TestReconMemoryRefused(t *testing.T) {
	orttest.LibPath(t)
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	m, err := onnxio.Read(model)
	if err != nil {
		t.Fatal(err)
	}
	r, err := quantizer.EstimateReconMemory(m)
	if err != nil {
		t.Fatal(err)
	}
	avail := availableMemory()
	if avail <= 0 {
		t.Skip("no MemAvailable in /proc/meminfo")
	}
	// Twice the images whose reconstruction would fill the memory available (which moves
	// between this reading and the command's), few enough that the images themselves (a
	// 48th of that at 1×32×32, three copies for convert) fit.
	over := strconv.FormatInt(2*avail/r.PerImage, 10)
	out := filepath.Join(t.TempDir(), "out.onnx")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"quantize", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--mixup", over}, []string{"--calib-data and --mixup", "reconstruction holds", r.Block}},
		{"convert", []string{"convert", model, "-o", out, "--images", over}, []string{"--images", "reconstruction holds", r.Block}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := sharpq(t, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not name %q", stderr, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s written", out)
			}
		})
	}
}
