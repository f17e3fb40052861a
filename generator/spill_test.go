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
		g, err := loadGenerator(dir, b.GeneratorFile, i, nil)
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

// TestRefineReusesGenerators: a refinement that drops each batch's generator (as convert's
// does) refines a generator kept in memory in place and reads a spilled one into the last
// batch's buffers, with the images of a refinement that keeps them all.
func TestRefineReusesGenerators(t *testing.T) {
	rt := orttest.Runtime(t)
	fp := bundledModel(t)
	q := fakeQuant(t, 0.5)
	opts := Options{Images: 16, Batch: 8, Steps: 2, Seed: 3}
	synth := func(spill string) *Images {
		t.Helper()
		o := opts
		o.SpillDir = spill
		im, err := Synthesize(t.Context(), rt, fp, o)
		if err != nil {
			t.Fatal(err)
		}
		return im
	}
	ro := RefinePaper()
	ro.Steps, ro.LRz, ro.LRg = 2, 1e-2, 1e-3
	kept := synth("")
	want, err := Refine(t.Context(), rt, fp, q, kept, ro)
	if err != nil {
		t.Fatal(err)
	}
	if kept.Batches[0].Generator == nil {
		t.Fatal("a refinement that keeps the generators dropped one")
	}

	dir := t.TempDir()
	spilled := synth(dir)
	ro.DropGenerators = true
	for _, tc := range []struct {
		name  string
		in    *Images
		spill string
	}{
		{"in memory", synth(""), ""},
		{"spilled", spilled, dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ro
			o.SpillDir = tc.spill
			got, err := Refine(t.Context(), rt, fp, q, tc.in, o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Data, want.Data) {
				t.Error("images differ from a refinement that keeps the generators")
			}
			for i, b := range got.Batches {
				if b.Generator != nil || tc.in.Batches[i].Generator != nil {
					t.Errorf("batch %d: generator kept", i)
				}
			}
		})
	}

	// Read into a generator of the same shapes: its buffers, the file's values.
	first, err := loadGenerator(dir, spilled.Batches[0].GeneratorFile, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := loadGenerator(dir, spilled.Batches[1].GeneratorFile, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := &first.Params[0].F32[0]
	into, err := loadGenerator(dir, spilled.Batches[1].GeneratorFile, 1, first)
	if err != nil {
		t.Fatal(err)
	}
	if &into.Params[0].F32[0] != buf {
		t.Error("loadGenerator allocated new buffers for a generator of the same shapes")
	}
	if !slices.Equal(into.Z.F32, second.Z.F32) || !slices.Equal(into.Params[len(into.Params)-1].F32, second.Params[len(second.Params)-1].F32) {
		t.Error("a generator read into another's buffers differs from one read into its own")
	}
}
