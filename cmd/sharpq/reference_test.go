package main

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/report"
	"github.com/sharpq/sharpq/testmodels"
)

// TestEvalReference compares a W4A4 round-to-nearest model with its float model on the
// bundled subset: with labels both accuracies (each as eval measures it alone) and the
// agreement, without labels the agreement alone, and --min-agreement as a gate.
func TestEvalReference(t *testing.T) {
	orttest.LibPath(t)
	model := "../../testmodels/" + testmodels.DefaultModel
	sub, lab := "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	q := filepath.Join(t.TempDir(), "q.onnx")
	code, stdout, stderr := sharpq(t, append([]string{"quantize", "--model", model, "--calib-data", sub, "--calib-images", "64", "--wbits", "4", "--abits", "4", "--iters", "0", "-o", q,
		"--eval-data", sub, "--eval-labels", lab, "--eval-images", "200", "--json"}, norm...)...)
	if code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	eval := func(wantCode int, args ...string) evalReport {
		t.Helper()
		code, stdout, stderr := sharpq(t, append(append([]string{"eval", "--json"}, norm...), args...)...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, wantCode, stderr)
		}
		var r evalReport
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v: %q", err, stdout)
		}
		return r
	}
	alone, float := eval(0, q, "--data", sub, "--labels", lab), eval(0, model, "--data", sub, "--labels", lab)
	both := eval(0, q, "--data", sub, "--labels", lab, "--reference", model)
	r := both.Reference
	if r == nil || both.Top1 == nil || r.Top1 == nil || *both.Top1 != *alone.Top1 || *r.Top1 != *float.Top1 || *r.Top5 != *float.Top5 {
		t.Fatalf("with --reference: %+v (reference %+v); alone %.2f, float %.2f", both, r, *alone.Top1, *float.Top1)
	}
	// Round-to-nearest W4A4 keeps this model close to the float one, but not identical.
	if r.Agreement < 90 || r.Agreement >= 100 || r.OutputSQNR < 5 || r.OutputSQNR > 60 || r.MaxDiff <= 0 {
		t.Errorf("agreement %.2f %%, SQNR %.1f dB, largest difference %g: want 90–100 %%, 5–60 dB, > 0", r.Agreement, r.OutputSQNR, r.MaxDiff)
	}
	t.Logf("W4A4 RTN against float on %d images: top-1 %.2f / %.2f, agreement %.2f %%, SQNR %.1f dB, largest difference %.3f",
		both.Images, *both.Top1, *r.Top1, r.Agreement, r.OutputSQNR, r.MaxDiff)

	// --eval-images 200 of the array: its first 200, both models in one pass.
	first200 := eval(0, q, "--data", sub, "--labels", lab, "--reference", model, "--limit", "200")
	if a := rep.Accuracy; a == nil || a.Images != 200 || a.Top1 != *first200.Top1 || a.FloatTop1 != *first200.Reference.Top1 || a.Agreement != first200.Reference.Agreement {
		t.Errorf("quantize --eval-images 200: %+v; eval --limit 200 --reference: %+v (reference %+v)", a, first200, first200.Reference)
	}

	unlabelled := eval(0, q, "--data", sub, "--reference", model)
	if unlabelled.Top1 != nil || unlabelled.Reference.Top1 != nil || unlabelled.Reference.Agreement != r.Agreement || unlabelled.Images != both.Images {
		t.Errorf("without labels: %+v (reference %+v), want no top-1 and agreement %.2f", unlabelled, unlabelled.Reference, r.Agreement)
	}
	// The first 40 images as PNGs in one folder without class subfolders: images without
	// labels, in name order, compared as the array's first 40 are.
	x, shape, err := calib.ReadNPYUint8(sub)
	if err != nil {
		t.Fatal(err)
	}
	h, w := int(shape[len(shape)-2]), int(shape[len(shape)-1])
	flat := t.TempDir()
	for i := range 40 {
		img := image.NewGray(image.Rect(0, 0, w, h))
		copy(img.Pix, x[i*h*w:(i+1)*h*w])
		savePNG(t, filepath.Join(flat, fmt.Sprintf("%03d.png", i)), img)
	}
	fromFolder, fromArray := eval(0, q, "--data", flat, "--reference", model), eval(0, q, "--data", sub, "--reference", model, "--limit", "40")
	if fromFolder.Images != 40 || fromFolder.Reference.Agreement != fromArray.Reference.Agreement || fromFolder.Reference.OutputSQNR != fromArray.Reference.OutputSQNR {
		t.Errorf("a folder without classes: %+v; the same images as an array: %+v", fromFolder.Reference, fromArray.Reference)
	}

	self := eval(0, model, "--data", sub, "--reference", model)
	if self.Reference.Agreement != 100 || self.Reference.OutputSQNR != 200 || self.Reference.MaxDiff != 0 {
		t.Errorf("a model against itself: %+v", self.Reference)
	}
	eval(3, q, "--data", sub, "--reference", model, "--min-agreement", "100")
	eval(0, q, "--data", sub, "--reference", model, "--min-agreement", "50", "--limit", "100")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", q, "--data", sub, "--labels", lab, "--min-agreement", "90"}, "--min-agreement needs --reference"},
		{[]string{"eval", q, "--data", sub}, "needs labels (--labels, or class subfolders), or --reference"},
		{[]string{"eval", q, "--data", sub, "--reference", model, "--min-top1", "90"}, "--min-top1: --data " + sub + " has no labels"},
		{[]string{"eval", q, "--data", sub, "--reference", filepath.Join(t.TempDir(), "absent.onnx")}, "--reference: "},
	} {
		code, _, stderr := sharpq(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, %q: want one error line with %q", tc.args[4:], code, stderr, tc.want)
		}
	}
}

func TestTenths(t *testing.T) {
	for _, tt := range []struct {
		x    float64
		want string
	}{{-0.04, "0.0"}, {math.Copysign(0, -1), "0.0"}, {-0.06, "-0.1"}, {19.84, "19.8"}, {200, "200.0"}} {
		if got := fmt.Sprintf("%.1f", tenths(tt.x)); got != tt.want {
			t.Errorf("tenths(%g) prints %s, want %s", tt.x, got, tt.want)
		}
	}
}
