package generator

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
)

// TestSpilledGenerators: with a spill folder every synthesised batch's generator is written
// to disk instead of being kept, the images do not change, and refinement reading the
// generators back gives exactly the images it gives from generators kept in memory. A
// damaged or missing file is an error naming the batch and the file.
func TestSpilledGenerators(t *testing.T) {
	rt := orttest.Runtime(t)
	fp := bundledModel(t)
	q := fakeQuant(t, 0.5)
	opts := Options{Images: 12, Batch: 8, Steps: 3, Seed: 7}
	kept, err := Synthesize(t.Context(), rt, fp, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts.SpillDir = dir
	spilled, err := Synthesize(t.Context(), rt, fp, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(spilled.Data, kept.Data) {
		t.Fatal("spilling the generators changed the images")
	}
	for i, b := range spilled.Batches {
		if b.Generator != nil || b.GeneratorFile != spillName(i) {
			t.Fatalf("batch %d: generator in memory %v, file %q", i, b.Generator != nil, b.GeneratorFile)
		}
		g, err := loadGenerator(dir, b.GeneratorFile, i)
		if err != nil {
			t.Fatal(err)
		}
		want := kept.Batches[i].Generator
		if g.C != want.C || g.H != want.H || g.W != want.W || !slices.Equal(g.Z.F32, want.Z.F32) || !slices.Equal(g.Z.Shape, want.Z.Shape) {
			t.Fatalf("batch %d: latents or shape differ after the round trip", i)
		}
		for j, p := range g.Params {
			if p.Name != want.Params[j].Name || !slices.Equal(p.Shape, want.Params[j].Shape) || !slices.Equal(p.F32, want.Params[j].F32) {
				t.Fatalf("batch %d: %s differs after the round trip", i, p.Name)
			}
		}
	}

	ro := RefinePaper()
	ro.Steps, ro.LRz, ro.LRg = 3, 1e-2, 1e-3
	fromMemory, err := Refine(t.Context(), rt, fp, q, kept, ro)
	if err != nil {
		t.Fatal(err)
	}
	ro.SpillDir = dir
	fromDisk, err := Refine(t.Context(), rt, fp, q, spilled, ro)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromDisk.Data, fromMemory.Data) {
		t.Error("refinement from spilled generators differs from refinement from kept ones")
	}

	last := filepath.Join(dir, spillName(1))
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", data[:len(data)/2], "truncated at"},
		{"foreign", []byte("not a generator at all"), "not a spilled generator"},
		{"longer", append(slices.Clone(data), 0), "data after the weights"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(last, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Refine(t.Context(), rt, fp, q, spilled, ro)
			if err == nil || !strings.Contains(err.Error(), "batch 1") || !strings.Contains(err.Error(), last) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming batch 1, %s and %q", err, last, tc.want)
			}
		})
	}
	os.Remove(last)
	if _, err := Refine(t.Context(), rt, fp, q, spilled, ro); err == nil || !strings.Contains(err.Error(), "batch 1") {
		t.Errorf("missing file: got %v, want an error naming batch 1", err)
	}

	opts.SpillDir, opts.DiscardGenerators = "", true
	none, err := Synthesize(t.Context(), rt, fp, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range none.Batches {
		if b.Generator != nil || b.GeneratorFile != "" {
			t.Errorf("batch %d: a generator was kept with DiscardGenerators", i)
		}
	}
}
