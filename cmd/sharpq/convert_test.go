package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/report"
	"github.com/sharpq/sharpq/testmodels"
)

// TestConvertEndToEnd runs the whole data-free path on the bundled model with a tiny schedule
// (every stage runs, a few steps each) and checks the written QDQ model in ORT on the bundled
// test subset.
func TestConvertEndToEnd(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	// Without --work-dir the generators wait in a temporary folder, which the run removes.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := filepath.Join(dir, "r20_w4a4.onnx")
	model := "../../testmodels/" + testmodels.DefaultModel
	code, stdout, stderr := sharpq(t, "convert", model, "-o", out, "--wbits", "4", "--abits", "4",
		"--images", "32", "--gen-steps", "40", "--warmup-iters", "10", "--refine-steps", "3", "--iters", "20", "--mirror", "--mixup", "16",
		"--save-images", filepath.Join(dir, "images"), "--json", "--report", filepath.Join(dir, "report"),
		"--eval-data", "../../testmodels/"+testmodels.SubsetImages, "--eval-labels", "../../testmodels/"+testmodels.SubsetLabels,
		"--mean", "0.2860", "--std", "0.3530")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the run left %s in the temporary folder", left[0].Name())
	}
	var rep struct {
		Method    string `json:"method"`
		Rounding  string `json:"rounding"`
		Images    int    `json:"images"`
		SelfCheck struct {
			Agreement float64 `json:"top1_agreement"`
		} `json:"self_check"`
		Generation []struct {
			First   float64 `json:"bns_first"`
			Last    float64 `json:"bns_last"`
			Seconds float64 `json:"seconds"`
			Setup   float64 `json:"setup_seconds"`
		} `json:"generation"`
		Refinement []struct {
			First   float64 `json:"loss_first"`
			Last    float64 `json:"loss_last"`
			Change  float64 `json:"image_change"`
			Seconds float64 `json:"seconds"`
			Setup   float64 `json:"setup_seconds"`
		} `json:"refinement"`
		Accuracy struct {
			Images    int     `json:"images"`
			Top1      float64 `json:"top1"`
			FloatTop1 float64 `json:"float_top1"`
		} `json:"accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if rep.Method != "sadag" || rep.Rounding != "adaround" || rep.Images != 32 || rep.SelfCheck.Agreement < 99 {
		t.Fatalf("report %+v", rep)
	}
	for i, g := range rep.Generation {
		if !(g.Last < g.First/3) {
			t.Errorf("batch %d: BNS loss %.3g → %.3g, want a 3× drop in 40 steps", i, g.First, g.Last)
		}
		if !(g.Setup > 0 && g.Setup < g.Seconds) {
			t.Errorf("batch %d: synthesis %g s, set-up %g s: want both timed, the set-up a part", i, g.Seconds, g.Setup)
		}
	}
	for i, r := range rep.Refinement {
		if !(r.Setup > 0 && r.Setup < r.Seconds) {
			t.Errorf("refined batch %d: %g s, set-up %g s: want both timed, the set-up a part", i, r.Seconds, r.Setup)
		}
	}
	// One generator made the 32 images; refinement moved them, but not far (three steps).
	if len(rep.Refinement) != 1 || !(rep.Refinement[0].Change > 0 && rep.Refinement[0].Change < 0.5) {
		t.Fatalf("refinement report %+v, want one batch whose images changed by 0–50 %%", rep.Refinement)
	}
	// report.json is what --json printed, plus the generation curves and the image grid.
	var printed, written report.Report
	b, err := os.ReadFile(filepath.Join(dir, "report", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(stdout), &printed); err != nil {
		t.Fatal(err)
	}
	if len(written.Generation) != 1 || written.ImageGrid != "synthetic.png" || printed.Generation != nil {
		t.Errorf("report.json has %d generation curves and image grid %q, --json %d curves: want 1, synthetic.png and none",
			len(written.Generation), written.ImageGrid, len(printed.Generation))
	}
	wantJSON, _ := json.Marshal(printed)
	gotJSON, _ := json.Marshal(written.Summary())
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("report.json without its curves and grid:\n%s\n--json:\n%s", gotJSON, wantJSON)
	}
	for _, f := range []string{"images/images.npy", "images/grid.png", "report/synthetic.png", "report/sqnr.png", "report/generation.png", "report/reconstruction.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	code, stdout, stderr = sharpq(t, "eval", "--model", out, "--data", "../../testmodels/"+testmodels.SubsetImages,
		"--labels", "../../testmodels/"+testmodels.SubsetLabels, "--mean", "0.2860", "--std", "0.3530", "--json")
	if code != 0 {
		t.Fatalf("eval exit %d: %s", code, stderr)
	}
	var ev evalReport
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatal(err)
	}
	// W4A4 is easy on this model (round-to-nearest alone keeps 93.4 of 93.75 on the full test
	// set); even this tiny schedule must stay close to the float 94.6 on the subset.
	if *ev.Top1 < 92 {
		t.Fatalf("W4A4 data-free top-1 %.1f on the bundled subset, want ≥ 92", *ev.Top1)
	}
	// --eval-data measured the same model on the same images before writing it.
	if a := rep.Accuracy; a.Images != 1000 || a.Top1 != *ev.Top1 || a.FloatTop1 != 94.6 {
		t.Errorf("convert --eval-data: %+v; eval of the written model: top-1 %.2f; float: want 94.60", a, *ev.Top1)
	}
	// --mirror and --mixup calibrated on the 32 synthetic images, their 32 mirrors and 16
	// mixtures.
	qm, err := onnxio.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, kv := range qm.Metadata {
		meta[kv.Key] = kv.Value
	}
	if meta["sharpq.synthetic_images"] != "32" || meta["sharpq.calibration_images"] != "80" {
		t.Errorf("metadata: synthetic_images %q, calibration_images %q; want 32 and 80 (--mirror --mixup 16)", meta["sharpq.synthetic_images"], meta["sharpq.calibration_images"])
	}
	// quantize --mirror --mixup on the saved images draws the same mirrors and mixtures, so it
	// learns the same quantized model without synthesising again.
	again := filepath.Join(dir, "again.onnx")
	code, _, stderr = sharpq(t, "quantize", "--model", model, "--calib-data", filepath.Join(dir, "images", "images.npy"), "-o", again,
		"--wbits", "4", "--abits", "4", "--iters", "20", "--mirror", "--mixup", "16")
	if code != 0 {
		t.Fatalf("quantize on the saved images: exit %d: %s", code, stderr)
	}
	am, err := onnxio.Read(again)
	if err != nil {
		t.Fatal(err)
	}
	if diff := sameInitializers(qm.Graph.Initializers, am.Graph.Initializers); diff != "" {
		t.Errorf("quantize --mirror --mixup 16 on convert's saved images: %s", diff)
	}
	// --rounding flexround learns other integers from the same images and says so.
	flex := filepath.Join(dir, "flex.onnx")
	code, stdout, stderr = sharpq(t, "quantize", "--model", model, "--calib-data", filepath.Join(dir, "images", "images.npy"), "-o", flex,
		"--wbits", "4", "--abits", "4", "--iters", "20", "--mirror", "--mixup", "16", "--rounding", "flexround", "--json")
	if code != 0 {
		t.Fatalf("quantize --rounding flexround: exit %d: %s", code, stderr)
	}
	var flexRep struct {
		Rounding string `json:"rounding"`
	}
	if err := json.Unmarshal([]byte(stdout), &flexRep); err != nil || flexRep.Rounding != "flexround" {
		t.Errorf("quantize --json: rounding %q (%v), want flexround", flexRep.Rounding, err)
	}
	fm, err := onnxio.Read(flex)
	if err != nil {
		t.Fatal(err)
	}
	if sameInitializers(qm.Graph.Initializers, fm.Graph.Initializers) == "" {
		t.Error("--rounding flexround wrote AdaRound's model")
	}
	for _, c := range []struct {
		m    *ir.Model
		want string
	}{{qm, "adaround"}, {fm, "flexround"}} {
		got := ""
		for _, kv := range c.m.Metadata {
			if kv.Key == "sharpq.rounding" {
				got = kv.Value
			}
		}
		if got != c.want {
			t.Errorf("metadata sharpq.rounding %q, want %q", got, c.want)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report", "report.md"))
	if err != nil || !strings.Contains(string(md), "## Accuracy (1000 labelled images)") || !strings.Contains(string(md), "output SQNR") || !strings.Contains(string(md), "(synthetic.png)") || !strings.Contains(string(md), "## SADAG refinement") {
		t.Errorf("report.md lacks the accuracy, the layer SQNRs or the refinement (%v)", err)
	}
	t.Logf("W4A4 data-free (tiny schedule): top-1 %.1f on the bundled 1000-image subset; refinement changed the images by %.3f %%", *ev.Top1, 100*rep.Refinement[0].Change)
}

// sameInitializers describes the first difference between two models' initializers, or
// returns "".
func sameInitializers(a, b []*ir.Tensor) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d initializers against %d", len(a), len(b))
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			return fmt.Sprintf("initializer %s differs", a[i].Name)
		}
	}
	return ""
}

// convert --estimate needs no --output, prints a line per stage of the run its flags
// describe (or the same as JSON) and writes nothing, not even to --save-images or --report;
// without --estimate, --output is required.
func TestConvertEstimate(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	tiny := []string{"--images", "16", "--gen-batch", "8", "--gen-steps", "5", "--warmup-iters", "3", "--refine-steps", "2", "--iters", "6",
		"--save-images", filepath.Join(dir, "images"), "--report", filepath.Join(dir, "report"), "--threads", "1"}
	code, stdout, stderr := sharpq(t, append([]string{"convert", model, "--estimate"}, tiny...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"W4A4, sadag, fast preset, on cpu with 1 thread: about", "generate  ", "2 batches", "warm-up reconstruction", "refine  ", "reconstruct+export"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("--estimate wrote %s", left[0].Name())
	}
	// A fast-preset run of more than an hour is pointed to the quick preset; a short one not.
	hint := "hint: --preset quick runs the same stages with fewer steps"
	if strings.Contains(stderr, hint) {
		t.Errorf("a run of minutes gets the quick preset's hint:\n%s", stderr)
	}
	code, stdout, stderr = sharpq(t, "convert", model, "--estimate", "--method", "genie", "--images", "8", "--gen-batch", "8", "--gen-steps", "1000000", "--iters", "2", "--threads", "1")
	if code != 0 || !strings.Contains(stderr, hint) {
		t.Errorf("an estimate of days: exit %d, no hint to the quick preset:\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = sharpq(t, append([]string{"convert", model, "--estimate", "--json", "--method", "genie"}, tiny...)...)
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr)
	}
	var est struct {
		Stages []struct {
			Name    string  `json:"name"`
			Steps   int     `json:"steps"`
			Seconds float64 `json:"seconds"`
		} `json:"stages"`
		Seconds float64 `json:"seconds"`
	}
	if err := json.Unmarshal([]byte(stdout), &est); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if len(est.Stages) != 2 || est.Stages[0].Name != "generate" || est.Stages[0].Steps != 5 || est.Stages[1].Steps != 6 || !(est.Seconds > 0) {
		t.Errorf("--json estimate %+v, want generate (5 steps) and reconstruct+export (6)", est)
	}
	if code, _, stderr := sharpq(t, "convert", model); code != 2 || !strings.Contains(stderr, "--output is required") {
		t.Errorf("convert without --output: exit %d, %q", code, stderr)
	}
}

// quantize --estimate, like convert's, needs no --output, reports the run its flags
// describe (all the calibration images, the preset's steps) and writes nothing.
func TestQuantizeEstimate(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	args := []string{"quantize", model, "--estimate", "--calib-data", "../../testmodels/" + testmodels.SubsetImages, "--mean", "0.2860", "--std", "0.3530",
		"--preset", "quick", "--report", filepath.Join(dir, "report"), "--threads", "1"}
	code, stdout, stderr := sharpq(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"W4A4, quick preset, 1000 calibration images, on cpu with 1 thread: about", "reconstruct+export  11 blocks  200 "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("--estimate wrote %s", left[0].Name())
	}
	// A fast-preset run of more than an hour is pointed to the quick preset; a short one not.
	hint := "hint: --preset quick runs the same stages with fewer steps"
	if strings.Contains(stderr, hint) {
		t.Errorf("a run of minutes gets the quick preset's hint:\n%s", stderr)
	}
	code, stdout, stderr = sharpq(t, "convert", model, "--estimate", "--method", "genie", "--images", "8", "--gen-batch", "8", "--gen-steps", "1000000", "--iters", "2", "--threads", "1")
	if code != 0 || !strings.Contains(stderr, hint) {
		t.Errorf("an estimate of days: exit %d, no hint to the quick preset:\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = sharpq(t, append(args, "--json", "--iters", "0")...)
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr)
	}
	var est struct {
		Stages []struct {
			Steps        int     `json:"steps"`
			StepSeconds  float64 `json:"step_seconds"`
			OtherSeconds float64 `json:"other_seconds"`
			Seconds      float64 `json:"seconds"`
		} `json:"stages"`
		Seconds float64 `json:"seconds"`
	}
	if err := json.Unmarshal([]byte(stdout), &est); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	// Round-to-nearest has no steps: its time is the set-up, export and self-check alone.
	if len(est.Stages) != 1 || est.Stages[0].Steps != 0 || est.Stages[0].Seconds != est.Stages[0].OtherSeconds || !(est.Seconds > 0) {
		t.Errorf("--iters 0 --json estimate %+v, want one stage of 0 steps, its time all outside them", est)
	}
	if code, _, stderr := sharpq(t, "quantize", model, "--calib-data", "../../testmodels/"+testmodels.SubsetImages); code != 2 || !strings.Contains(stderr, "--output is required") {
		t.Errorf("quantize without --output: exit %d, %q", code, stderr)
	}
}

// quantize --estimate --resume --work-dir prices what the run in the folder has left: after a
// finished run, only the set-up, export and self-check, with every block done; a folder of
// another run (other settings) is refused as the run itself would refuse it.
func TestQuantizeEstimateResumed(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	model := "../../testmodels/" + testmodels.DefaultModel
	args := []string{"quantize", model, "--calib-data", "../../testmodels/" + testmodels.SubsetImages, "--calib-images", "64", "--mean", "0.2860", "--std", "0.3530",
		"--iters", "4", "--threads", "1", "--work-dir", work}
	if code, _, stderr := sharpq(t, append(args, "-o", filepath.Join(dir, "q.onnx"))...); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := sharpq(t, append(args, "--estimate", "--resume", "--json")...)
	if code != 0 {
		t.Fatalf("--estimate --resume: exit %d: %s", code, stderr)
	}
	var est struct {
		Resumed bool `json:"resumed"`
		Stages  []struct {
			Units        int     `json:"units"`
			Done         int     `json:"done"`
			OtherSeconds float64 `json:"other_seconds"`
			Seconds      float64 `json:"seconds"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(stdout), &est); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if st := est.Stages; !est.Resumed || len(st) != 1 || st[0].Done != st[0].Units || st[0].Units == 0 || st[0].Seconds != st[0].OtherSeconds {
		t.Errorf("estimate %+v: want resumed, every block done, its time all outside the steps", est)
	}
	code, _, stderr = sharpq(t, append(args, "--estimate", "--resume", "--seed", "9")...)
	if code != 2 || !strings.Contains(stderr, "holds another run") || !strings.Contains(stderr, "--seed 0 there, 9 here") {
		t.Errorf("--estimate --resume on another run's folder: exit %d, %q", code, stderr)
	}
}

func TestConvertRefusesFoldedBN(t *testing.T) {
	needShared(t)
	out := filepath.Join(t.TempDir(), "x.onnx")
	code, _, stderr := sharpq(t, "convert", sharedDir+"/models/resnet20_fmnist_folded.onnx", "-o", out)
	if code != 1 || !strings.Contains(stderr, "TrainingMode.PRESERVE") || !strings.Contains(stderr, "sharpq quantize --calib-data") || !strings.Contains(stderr, "resnet20_fmnist_folded.onnx") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output exists after a failed convert")
	}
}

// TestConvertArchitectures runs the data-free path, with a tiny schedule, on TinyResNet with
// the parts of other architectures: synthesis, SADAG refinement and reconstruction all take
// gradients through them, and the written model must run in ONNX Runtime and agree with the
// simulation, and the BN-statistics loss must reach the BNs and fall.
func TestConvertArchitectures(t *testing.T) {
	orttest.LibPath(t)
	cases := []struct {
		name  string
		model *ir.Model
	}{
		// ShuffleNetV2's unit: the gradients pass its Split and Concat.
		{"shuffle unit", testmodels.WithShuffleUnit(testmodels.TinyResNet(3))},
		// GoogLeNet's and Inception v3's transform_input: a Gather of one input channel.
		// Without Gather's gradient rule the convert is refused in its first second.
		{"channel pick", testmodels.WithChannelPick(testmodels.TinyResNet(3))},
		// Face-recognition ResNets' PReLU, YOLO backbones' Mish, and GELU, signed activations
		// with gradient rules of their own.
		{"prelu", testmodels.WithActivation(testmodels.TinyResNet(3), "PRelu")},
		{"mish", testmodels.WithActivation(testmodels.TinyResNet(3), "Mish")},
		{"gelu", testmodels.WithActivation(testmodels.TinyResNet(3), "Gelu")},
		// EfficientNet's SiLU as opset 24's Swish, which ONNX's rewriters make of x·Sigmoid(x).
		{"swish", testmodels.WithActivation(testmodels.TinyResNet(3), "Swish")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			model := writeModel(t, dir, "m.onnx", tc.model)
			out := filepath.Join(dir, "q.onnx")
			code, stdout, stderr := sharpq(t, "convert", model, "-o", out, "--images", "16", "--gen-steps", "20",
				"--warmup-iters", "5", "--refine-steps", "3", "--iters", "10", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep struct {
				SelfCheck struct {
					Agreement float64 `json:"top1_agreement"`
				} `json:"self_check"`
				Generation []struct {
					First float64 `json:"bns_first"`
					Last  float64 `json:"bns_last"`
				} `json:"generation"`
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("%v: %q", err, stdout)
			}
			if rep.SelfCheck.Agreement != 100 {
				t.Errorf("self-check agreement %.3f", rep.SelfCheck.Agreement)
			}
			if len(rep.Generation) != 1 || !(rep.Generation[0].Last < rep.Generation[0].First) {
				t.Errorf("generation %+v, want one batch whose BNS loss fell", rep.Generation)
			}
		})
	}
}
