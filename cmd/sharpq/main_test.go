package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

const sharedDir = "../../../shared"

// sharq runs the CLI in-process and returns the exit status, stdout and stderr.
func sharpq(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"sharpq"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func needShared(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sharedDir + "/models"); err != nil {
		t.Skip("../shared not found beside the repository: ", err)
	}
}

// TestEvalMatchesTrainingTop1 evaluates every shared model on the 10000 Fashion-MNIST test
// images and compares with the top-1 recorded at training time (models/*.json).
func TestEvalMatchesTrainingTop1(t *testing.T) {
	needShared(t)
	orttest.LibPath(t)
	models, _ := filepath.Glob(sharedDir + "/models/*_fmnist*.onnx")
	if len(models) != 6 {
		t.Fatalf("found %d shared models, want 6", len(models))
	}
	for _, model := range models {
		t.Run(filepath.Base(model), func(t *testing.T) {
			base := strings.TrimSuffix(strings.TrimSuffix(model, ".onnx"), "_folded")
			var meta struct{ Top1 float64 }
			b, err := os.ReadFile(base + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &meta); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := sharpq(t, "eval", "--model", model,
				"--data", sharedDir+"/data/fmnist_test_u8.npy", "--labels", sharedDir+"/data/fmnist_test_labels.npy",
				"--mean", "0.2860", "--std", "0.3530", "--batch", "250", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep evalReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("%v: %q", err, stdout)
			}
			if rep.Images != 10000 {
				t.Fatalf("evaluated %d images, want 10000", rep.Images)
			}
			// 0.01 points is one image in 10000: the float model must classify identically.
			if math.Abs(*rep.Top1-100*meta.Top1) > 0.01+1e-9 {
				t.Fatalf("top-1 %.2f, training recorded %.2f", *rep.Top1, 100*meta.Top1)
			}
			t.Logf("top-1 %.2f (recorded %.2f), top-5 %.2f, %.0f images/s", *rep.Top1, 100*meta.Top1, *rep.Top5, rep.ImagesPerSec)
		})
	}
}

func TestInspectTellsBNFromFolded(t *testing.T) {
	needShared(t)
	tests := []struct {
		model   string
		bnNodes int
		folded  bool
	}{
		{"resnet20_fmnist.onnx", 21, false},
		{"resnet20_fmnist_folded.onnx", 0, true},
		{"mobilenetv2_fmnist.onnx", 52, false},
		{"mobilenetv2_fmnist_folded.onnx", 0, true},
		{"resnet18w16_fmnist.onnx", 20, false},
		{"resnet18w16_fmnist_folded.onnx", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			code, stdout, stderr := sharpq(t, "inspect", "--json", sharedDir+"/models/"+tc.model)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep struct {
				BNNodes  int    `json:"batchnorm_nodes"`
				BNFolded bool   `json:"batchnorm_folded"`
				Layers   []any  `json:"quantizable_layers"`
				Training string `json:"training"`
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(rep.Training, "ok") {
				t.Errorf("training: %q, want ok", rep.Training)
			}
			if rep.BNNodes != tc.bnNodes || rep.BNFolded != tc.folded {
				t.Fatalf("batchnorm %d nodes, folded %v; want %d, %v", rep.BNNodes, rep.BNFolded, tc.bnNodes, tc.folded)
			}
			code, text, _ := sharpq(t, "inspect", sharedDir+"/models/"+tc.model)
			want := "with running statistics"
			if tc.folded {
				want = "folded into Conv"
			}
			if code != 0 || !strings.Contains(text, want) {
				t.Fatalf("text report lacks %q:\n%s", want, text)
			}
		})
	}
}

func writeModel(t *testing.T, dir, name string, m *ir.Model) string {
	t.Helper()
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBadInput checks that each kind of bad input gets one clear line naming the problem and
// a non-zero exit.
func TestBadInput(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("../../testmodels", testmodels.DefaultModel))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("truncated.onnx", good[:len(good)/2])
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i*i*31)
	}
	randomPath := write("random.onnx", random)
	notModel := write("notmodel.onnx", []byte{0x08, 0x07}) // a protobuf: field 1 = 7, no graph
	unsupported := writeModel(t, dir, "unsupported.onnx", testmodels.WithOps(1, "NonMaxSuppression", "If", "NonMaxSuppression"))
	dynamic := writeModel(t, dir, "dynamic.onnx", testmodels.DynamicSpatial(1))
	tiny := writeModel(t, dir, "tiny.onnx", testmodels.TinyResNet(1))
	opset6, err := onnxio.Read(filepath.Join("../../testmodels", testmodels.DefaultModel))
	if err != nil {
		t.Fatal(err)
	}
	opset6.SetOpset("", 6)
	tooOld := writeModel(t, dir, "opset6.onnx", opset6)
	rgb := filepath.Join(dir, "rgb.npy")
	if err := calib.SaveNPYUint8(rgb, make([]uint8, 2*3*32*32), []int{2, 3, 32, 32}); err != nil {
		t.Fatal(err)
	}
	labels2 := filepath.Join(dir, "labels2.npy")
	if err := calib.SaveNPYInt64(labels2, []int64{0, 1}, []int{2}); err != nil {
		t.Fatal(err)
	}
	sub, lab := "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels
	model := "../../testmodels/" + testmodels.DefaultModel

	tests := []struct {
		name string
		args []string
		want []string // substrings of the one-line error
		env  string   // $SHARPQ_ORT_LIB for the case, when not empty
	}{
		{"truncated", []string{"inspect", truncated}, []string{truncated, "truncated or corrupt"}, ""},
		{"random bytes", []string{"inspect", randomPath}, []string{randomPath}, ""},
		{"not a model", []string{"inspect", notModel}, []string{notModel, "not an ONNX model"}, ""},
		{"unsupported ops", []string{"inspect", unsupported}, []string{"unsupported operators", "If (node \"extra_If\")", "NonMaxSuppression (node \"extra_NonMaxSuppression\")"}, ""},
		{"missing model", []string{"inspect", filepath.Join(dir, "nope.onnx")}, []string{"nope.onnx", "no such file"}, ""},
		{"dynamic spatial dim", []string{"eval", "--model", dynamic, "--data", sub, "--labels", lab}, []string{"dimension 2", "height", "dynamic", "--input-shape"}, ""},
		{"inspect with a dynamic spatial dim", []string{"inspect", dynamic}, []string{"dimension 2", "height", "dynamic", "--input-shape"}, ""},
		{"input shape against a static dimension", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--input-shape", "3x32x32"}, []string{"--input-shape", "dimension 1", "not 3"}, ""},
		{"no labels", []string{"eval", "--model", model, "--data", sub}, []string{"--data", "needs labels", "--labels"}, ""},
		{"input shape not C×H×W", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--input-shape", "32x32"}, []string{"--input-shape", "C×H×W"}, ""},
		{"wrong input shape", []string{"eval", "--model", model, "--data", rgb, "--labels", labels2}, []string{"[3 32 32]", "[1 32 32]"}, ""},
		{"tiny model wrong size", []string{"eval", "--model", tiny, "--data", sub, "--labels", lab}, []string{"[1 32 32]", "[1 8 8]"}, ""},
		{"opset too old (eval)", []string{"eval", "--model", tooOld, "--data", sub, "--labels", lab}, []string{"opset6.onnx", "opset 6", "opsets 7 to 26"}, ""},
		{"opset too old (quantize)", []string{"quantize", "--model", tooOld, "--calib-data", sub, "-o", filepath.Join(dir, "q.onnx")}, []string{"opset6.onnx", "opset 6", "opsets 7 to 26"}, ""},
		{"labels mismatch", []string{"eval", "--model", model, "--data", sub, "--labels", labels2}, []string{"labels2.npy", "1000", "2"}, ""},
		{"missing ORT library", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--ort-lib", filepath.Join(dir, "libonnxruntime.so")}, []string{"libonnxruntime.so", "--ort-lib"}, ""},
		{"missing ORT library from the environment", []string{"eval", "--model", model, "--data", sub, "--labels", lab}, []string{"SHARPQ_ORT_LIB=", "libonnxruntime.so"}, filepath.Join(dir, "libonnxruntime.so")},
		{"mean count", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--mean", "0.1,0.2", "--std", "0.3"}, []string{"--mean"}, ""},
		{"cuda on CPU library", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--device", "cuda"}, []string{"CUDA"}, ""},
		{"unknown device", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--device", "tpu"}, []string{"--device", "tpu"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SHARPQ_ORT_LIB", tc.env)
			}
			code, _, stderr := sharpq(t, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0, want failure")
			}
			line := strings.TrimSuffix(stderr, "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "sharpq: error: ") {
				t.Fatalf("want one line starting %q, got %q", "sharpq: error: ", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not mention %q", line, w)
				}
			}
		})
	}
}

// A file that a flag names and that cannot be read is a failure (exit 1), as a missing model
// is; a value the command cannot use is a bad command line (exit 2), whatever names it.
func TestExitStatusOfUnreadableFiles(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	sub, lab := "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels
	eval := []string{"eval", "--model", model, "--data", sub}
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"missing labels", append(slices.Clone(eval), "--labels", filepath.Join(dir, "nope.npy")), 1},
		{"missing text labels", append(slices.Clone(eval), "--labels", filepath.Join(dir, "nope.txt")), 1},
		{"missing ORT library", append(slices.Clone(eval), "--labels", lab, "--ort-lib", filepath.Join(dir, "libonnxruntime.so")), 1},
		{"missing model", []string{"eval", "--model", filepath.Join(dir, "nope.onnx"), "--data", sub, "--labels", lab}, 1},
		{"a bad value", append(slices.Clone(eval), "--labels", lab, "--mean", "0.1,0.2", "--std", "0.3"), 2},
	} {
		if code, _, stderr := sharpq(t, tt.args...); code != tt.code {
			t.Errorf("%s: exit %d, want %d: %s", tt.name, code, tt.code, stderr)
		}
	}
}

// TestQuantizeBadInput covers the quantize/convert rows of the bad-input matrix: each fails
// with one line and leaves no output file.
func TestQuantizeBadInput(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	nan := testmodels.TinyResNet(1)
	nan.Graph.Initializer("block.c1.weight").F32[3] = float32(math.NaN())
	nanPath := writeModel(t, dir, "nan.onnx", nan)
	withSign, err := onnxio.Read(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range withSign.Graph.Nodes {
		if n.OpType == "Relu" {
			n.OpType = "Sign" // runs in ONNX Runtime, has no gradient rule
			break
		}
	}
	sign := writeModel(t, dir, "sign.onnx", withSign)
	rgb := filepath.Join(dir, "rgb.npy")
	if err := calib.SaveNPYUint8(rgb, make([]uint8, 2*3*32*32), []int{2, 3, 32, 32}); err != nil {
		t.Fatal(err)
	}
	rgbLabels := filepath.Join(dir, "rgb_labels.npy")
	if err := calib.SaveNPYInt64(rgbLabels, []int64{0, 1}, []int{2}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unwritable output", []string{"quantize", "--model", model, "--calib-data", sub, "-o", "/proc/sharpq/out.onnx"}, []string{"--output", "/proc/sharpq/out.onnx"}},
		{"output is a folder", []string{"quantize", "--model", model, "--calib-data", sub, "-o", dir}, []string{"--output", "folder"}},
		{"report folder under a file", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--report", sub + "/r"}, []string{"--report", "is a file"}},
		{"unwritable report folder", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--report", "/proc/sharpq/r"}, []string{"--report", "/proc/sharpq/r"}},
		{"image folder under a file (convert)", []string{"convert", model, "-o", out, "--save-images", sub + "/img"}, []string{"--save-images", "is a file"}},
		{"unwritable report folder (convert)", []string{"convert", model, "-o", out, "--report", "/proc/sharpq/r"}, []string{"--report", "/proc/sharpq/r"}},
		{"image folder under a file (generate)", []string{"generate", model, "-o", sub + "/img"}, []string{"--output", "is a file"}},
		{"calibration data of the wrong shape", []string{"quantize", "--model", model, "--calib-data", rgb, "-o", out}, []string{"rgb.npy", "[3 32 32]", "[1 32 32]"}},
		{"NaN weights (quantize)", []string{"quantize", "--model", nanPath, "--calib-data", sub, "-o", out, "--iters", "0"}, []string{"block.c1.weight", "NaN"}},
		{"NaN weights (convert)", []string{"convert", nanPath, "-o", out}, []string{"block.c1.weight", "NaN"}},
		{"no gradient rule (quantize)", []string{"quantize", "--model", sign, "--calib-data", sub, "-o", out, "--iters", "5"}, []string{"sign.onnx", "(Sign)", "no gradient rule"}},
		{"no gradient rule (convert)", []string{"convert", sign, "-o", out}, []string{"sign.onnx", "(Sign)", "no gradient rule"}},
		{"bad bits", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--wbits", "1"}, []string{"--wbits", "1"}},
		{"bad preset", []string{"convert", model, "-o", out, "--preset", "slow"}, []string{"--preset", "slow"}},
		{"bad method", []string{"convert", model, "-o", out, "--method", "zeroq", "--images", "2", "--gen-steps", "1"}, []string{"--method", "zeroq"}},
		{"eval data of the wrong shape", []string{"convert", model, "-o", out, "--eval-data", rgb, "--eval-labels", rgbLabels}, []string{"--eval-data", "rgb.npy", "[3 32 32]"}},
		{"eval labels without data", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--eval-labels", rgbLabels}, []string{"--eval-labels", "--eval-data"}},
		{"unknown rounding", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--rounding", "nearest"}, []string{"--rounding", "nearest"}},
		{"unknown rounding (convert)", []string{"convert", model, "-o", out, "--rounding", "flex"}, []string{"--rounding", "flex"}},
		{"round weight with FlexRound", []string{"convert", model, "-o", out, "--rounding", "flexround", "--round-weight", "0.1"}, []string{"--round-weight", "FlexRound"}},
		{"negative round weight", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--round-weight", "-1"}, []string{"--round-weight"}},
		{"negative activation learning rate", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--act-lr", "-1e-4"}, []string{"--act-lr"}},
		{"negative bias learning rate", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--bias-lr", "-1e-4"}, []string{"--bias-lr"}},
		{"negative bias learning rate (convert)", []string{"convert", model, "-o", out, "--bias-lr", "-1"}, []string{"--bias-lr"}},
		{"negative generation parallelism", []string{"convert", model, "-o", out, "--gen-parallel", "-1"}, []string{"--gen-parallel", "-1"}},
		{"negative generation parallelism (generate)", []string{"generate", model, "-o", out, "--gen-parallel", "-2"}, []string{"--gen-parallel", "-2"}},
		{"negative mixtures", []string{"convert", model, "-o", out, "--mixup", "-1"}, []string{"--mixup", "-1"}},
		{"negative mixtures (quantize)", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--mixup", "-2"}, []string{"--mixup", "-2"}},
		{"negative refinement scale", []string{"convert", model, "-o", out, "--refine-lr-scale", "-2"}, []string{"--refine-lr-scale"}},
		{"clipping norm below 1 (quantize)", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--act-clip-norm", "0.5"}, []string{"--act-clip-norm", "0.5"}},
		{"clipping norm below 1 (convert)", []string{"convert", model, "-o", out, "--act-clip-norm", "0.5"}, []string{"--act-clip-norm", "0.5"}},
		{"negative round weight (convert)", []string{"convert", model, "-o", out, "--round-weight", "-1"}, []string{"--round-weight"}},
		{"output over the input model (quantize)", []string{"quantize", "--model", nanPath, "--calib-data", sub, "-o", nanPath}, []string{"--output", "is the input model"}},
		{"output over the input model (convert)", []string{"convert", nanPath, "-o", nanPath}, []string{"--output", "is the input model"}},
		{"negative image count", []string{"convert", model, "-o", out, "--images", "-5"}, []string{"--images", "-5"}},
		{"negative calibration image count", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--calib-images", "-3"}, []string{"--calib-images", "-3"}},
		{"one image a generator (generate)", []string{"generate", model, "-o", dir + "/g", "--gen-batch", "1"}, []string{"--gen-batch", "1"}},
		{"negative generation steps", []string{"convert", model, "-o", out, "--gen-steps", "-1"}, []string{"--gen-steps", "-1"}},
		{"negative steps per block (quantize)", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--iters", "-3"}, []string{"--iters", "-3"}},
		{"negative warm-up steps (convert)", []string{"convert", model, "-o", out, "--warmup-iters", "-2"}, []string{"--warmup-iters", "-2"}},
		{"negative threads", []string{"convert", model, "-o", out, "--threads", "-1"}, []string{"--threads", "-1"}},
		// The library names its settings (Preprocess.Std, Bits.Weight); the command, its flags.
		{"layer bits for no layer (quantize)", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--iters", "0", "--layer-bits", "nosuch=2"}, []string{"--layer-bits nosuch", "no quantizable layer"}},
		{"layer bits for no layer (convert)", []string{"convert", model, "-o", out, "--layer-bits", "nosuch=2"}, []string{"--layer-bits nosuch", "no Conv, Gemm or MatMul"}},
		{"last synthetic batch of one image", []string{"convert", model, "-o", out, "--images", "9", "--gen-batch", "8"}, []string{"--images 9", "batch of 1 image"}},
		{"zero std (quantize)", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--std", "0"}, []string{"--std", "is 0"}},
		{"eval mean per channel", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--eval-data", rgb, "--eval-labels", rgbLabels, "--eval-mean", "0.1,0.2"},
			[]string{"--eval-mean has 2 values for 3-channel images"}},
		{"zero eval std (convert)", []string{"convert", model, "-o", out, "--eval-data", rgb, "--eval-labels", rgbLabels, "--eval-std", "0"}, []string{"--eval-std", "is 0"}},
		{"mean per channel (convert's test images)", []string{"convert", model, "-o", out, "--eval-data", rgb, "--eval-labels", rgbLabels, "--mean", "0.1,0.2"}, []string{"--mean has 2 values"}},
		{"bad layer bits", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--layer-bits", "conv1=9"}, []string{"--layer-bits conv1=9"}},
		{"unknown device", []string{"convert", model, "-o", out, "--device", "tpu"}, []string{"--device", `"tpu"`}},
		{"size of .npy images", []string{"quantize", "--model", model, "--calib-data", rgb, "-o", out, "--size", "8"}, []string{"--size 8", "set --size to 0"}},
		{"resize of .npy images", []string{"quantize", "--model", model, "--calib-data", rgb, "-o", out, "--resize", "36", "--crop", "32"}, []string{"--resize 36", "set --resize to 0"}},
		{"size and resize", []string{"convert", model, "-o", out, "--eval-data", rgb, "--eval-labels", rgbLabels, "--size", "32", "--resize", "36"}, []string{"--size 32 and --resize 36: set one"}},
		{"eval images without data", []string{"quantize", "--model", model, "--calib-data", sub, "-o", out, "--eval-images", "100"}, []string{"--eval-images needs --eval-data"}},
		{"negative eval images", []string{"convert", model, "-o", out, "--eval-data", rgb, "--eval-labels", rgbLabels, "--eval-images", "-1"}, []string{"--eval-images -1"}},
		{"negative crop", []string{"quantize", "--model", model, "--calib-data", rgb, "-o", out, "--crop", "-1"}, []string{"--crop -1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := sharpq(t, tc.args...)
			line := strings.TrimSuffix(stderr, "\n")
			if code == 0 || strings.Contains(line, "\n") || !strings.HasPrefix(line, "sharpq: error: ") {
				t.Fatalf("exit %d, stderr %q: want one error line", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not mention %q", line, w)
				}
			}
			for _, setting := range []string{"Preprocess.", "Options.", "Bits.", "Dataset."} {
				if strings.Contains(line, setting) {
					t.Errorf("error %q names a library setting (%s…), not its flag", line, setting)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output file left behind")
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
			if len(left) > 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

func TestBenchReportsBothModels(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	fp := writeModel(t, dir, "tiny.onnx", testmodels.TinyResNet(2))
	q := filepath.Join(dir, "tiny_q.onnx")
	// The tiny model's 8×8 input: calibrate on random images of that size.
	cal := filepath.Join(dir, "cal.npy")
	pix := make([]uint8, 16*8*8)
	for i := range pix {
		pix[i] = uint8(i * 37)
	}
	if err := calib.SaveNPYUint8(cal, pix, []int{16, 1, 8, 8}); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := sharpq(t, "quantize", "--model", fp, "--calib-data", cal, "-o", q, "--iters", "0"); code != 0 {
		t.Fatalf("quantize: %s", stderr)
	}
	code, stdout, stderr := sharpq(t, "bench", "--model", fp, "--quantized", q, "--runs", "3", "--batch", "8", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res []benchResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[1].Bytes <= 0 || res[0].LatencyMs <= 0 || res[1].ImagesPerSec <= 0 {
		t.Fatalf("bench result %+v", res)
	}
	if strings.Contains(stderr, "not made from it") {
		t.Errorf("a model and its quantized copy taken for unrelated ones: %s", stderr)
	}
	// Another model as --quantized is named as such (its 32×32 input against the tiny 8×8).
	other := "../../testmodels/" + testmodels.DefaultModel
	code, _, stderr = sharpq(t, "bench", "--model", fp, "--quantized", other, "--runs", "2", "--batch", "2")
	if code != 0 || !strings.Contains(stderr, "takes an input of shape [-1 1 32 32] where "+fp+" takes [-1 1 8 8]: it was not made from it") {
		t.Errorf("bench of unrelated models: exit %d, %s", code, stderr)
	}
}

// TestSameSeedSameBytes: the same seed gives a byte-identical model (same machine, same
// thread count); another seed gives another model.
func TestSameSeedSameBytes(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	run := func(name, seed string) []byte {
		out := filepath.Join(dir, name)
		code, _, stderr := sharpq(t, "quantize", "--model", model, "--calib-data", sub, "--calib-images", "64",
			"--mean", "0.2860", "--std", "0.3530", "--wbits", "2", "--abits", "4", "--iters", "10", "--seed", seed, "-o", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := run("a.onnx", "7"), run("b.onnx", "7"), run("c.onnx", "8")
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with seed 7 wrote different models")
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 7 and 8 wrote the same model")
	}
}

// A config file gives the same model as the flags; a list (mean: [0.2860]) is the flag's
// comma-separated values.
func TestConfigFileEqualsFlags(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	viaFlags := filepath.Join(dir, "flags.onnx")
	viaFile := filepath.Join(dir, "file.onnx")
	if code, _, stderr := sharpq(t, "quantize", "--model", model, "--calib-data", sub, "--calib-images", "32",
		"--mean", "0.2860", "--std", "0.3530", "--wbits", "3", "--abits", "4", "--iters", "0", "--act-clip-norm", "2", "-o", viaFlags); code != 0 {
		t.Fatal(stderr)
	}
	cfg := filepath.Join(dir, "q.yaml")
	yaml := "model: " + model + "\ncalib-data: " + sub + "\ncalib-images: 32\nmean: [0.2860]\nstd: \"0.3530\"\nwbits: 3\nabits: 4\niters: 0\nact-clip-norm: 2\noutput: " + viaFile + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := sharpq(t, "quantize", "--config", cfg); code != 0 {
		t.Fatal(stderr)
	}
	a, _ := os.ReadFile(viaFlags)
	b, _ := os.ReadFile(viaFile)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("config file and flags gave different models (%d vs %d bytes)", len(a), len(b))
	}
	code, _, stderr := sharpq(t, "quantize", "--config", filepath.Join(dir, "missing.yaml"))
	if code == 0 || !strings.Contains(stderr, "missing.yaml") {
		t.Fatalf("missing config: exit %d, %q", code, stderr)
	}
	// A misspelt key is refused, not dropped.
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte(yaml+"wbit: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = sharpq(t, "quantize", "--config", typo)
	if code != 2 || !strings.Contains(stderr, "typo.yaml") || !strings.Contains(stderr, `"wbit"`) {
		t.Fatalf("config with an unknown key: exit %d, %q", code, stderr)
	}
}

func TestFlagsFirst(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	tests := []struct{ in, want []string }{
		{[]string{"sharpq", "convert", "m.onnx", "-o", "x.onnx", "--json", "--preset", "fast"},
			[]string{"sharpq", "convert", "-o", "x.onnx", "--json", "--preset", "fast", "m.onnx"}},
		{[]string{"sharpq", "--log-format", "json", "quantize", "--model", "m", "--json", "--iters", "0", "--sym"},
			[]string{"sharpq", "--log-format", "json", "quantize", "--model", "m", "--json", "--iters", "0", "--sym"}},
		{[]string{"sharpq", "inspect", "m.onnx", "--json"}, []string{"sharpq", "inspect", "--json", "m.onnx"}},
		{[]string{"sharpq", "convert", "--", "-odd.onnx"}, []string{"sharpq", "convert", "--", "-odd.onnx"}},
	}
	for _, tc := range tests {
		if got := flagsFirst(app, tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("flagsFirst(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestQuantizeResumeKeysOnContent resumes a finished quantize from its work folder with the
// same calibration images under another path (same model written), and refuses other images.
func TestQuantizeResumeKeysOnContent(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	data, err := os.ReadFile(sub)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, "copy.npy")
	if err := os.WriteFile(copied, data, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "zeros.npy")
	if err := calib.SaveNPYUint8(other, make([]uint8, 64*32*32), []int{64, 1, 32, 32}); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	run := func(out, images string, resume bool) (int, string) {
		args := []string{"quantize", "--model", model, "--calib-data", images, "--calib-images", "64",
			"--mean", "0.2860", "--std", "0.3530", "--wbits", "2", "--abits", "4", "--iters", "10", "--work-dir", work, "-o", filepath.Join(dir, out)}
		if resume {
			args = append(args, "--resume")
		}
		code, _, stderr := sharpq(t, args...)
		return code, stderr
	}
	if code, stderr := run("a.onnx", sub, false); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	if code, stderr := run("b.onnx", copied, true); code != 0 {
		t.Fatalf("resume with the same images under another path: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.onnx"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.onnx"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the resumed run wrote another model")
	}
	code, stderr := run("c.onnx", other, true)
	if code == 0 || !strings.Contains(stderr, "another") {
		t.Errorf("resume with other images: exit %d, stderr %q; want a refusal naming another run", code, stderr)
	}
}

// TestQualityGates checks --max-drop and --min-agreement (quantize, convert) and --min-top1
// (eval): a model that misses the gate exits with status 3 and, for the quantizers, is not
// written.
func TestQualityGates(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	labels := "../../testmodels/" + testmodels.SubsetLabels
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	quantize := func(out string, extra ...string) []string {
		args := []string{"quantize", "--model", model, "--calib-data", sub, "--calib-images", "32", "--iters", "0",
			"--eval-data", sub, "--eval-labels", labels, "-o", out}
		return append(append(args, norm...), extra...)
	}
	eval := func(extra ...string) []string {
		return append(append([]string{"eval", "--model", model, "--data", sub, "--labels", labels}, norm...), extra...)
	}
	tests := []struct {
		name    string
		args    []string
		out     string // the output file, "" for eval
		code    int
		written bool
		want    []string // in the error line
	}{
		// Round-to-nearest W2A4 loses tens of points on this model, W8A8 a few tenths at most.
		{"W2A4 round-to-nearest misses a 1-point gate", quantize(filepath.Join(dir, "w2.onnx"), "--wbits", "2", "--abits", "4", "--max-drop", "1"), filepath.Join(dir, "w2.onnx"), 3, false, []string{"--max-drop 1", "below the float model's 94.60%", "w2.onnx not written"}},
		{"W8A8 round-to-nearest passes it", quantize(filepath.Join(dir, "w8.onnx"), "--wbits", "8", "--abits", "8", "--max-drop", "1"), filepath.Join(dir, "w8.onnx"), 0, true, nil},
		{"--max-drop without --eval-data", []string{"convert", model, "-o", filepath.Join(dir, "c.onnx"), "--max-drop", "1"}, filepath.Join(dir, "c.onnx"), 2, false, []string{"--max-drop", "--eval-data"}},
		// Every layer at 2 bits collapses the model (about 30 % agreement), W8A8 agrees on all.
		{"collapsed model misses --min-agreement", quantize(filepath.Join(dir, "c2.onnx"), "--wbits", "2", "--abits", "2", "--first-wbits", "2", "--second-abits", "2", "--last-wbits", "2", "--last-abits", "2", "--min-agreement", "50"), filepath.Join(dir, "c2.onnx"), 3, false, []string{"--min-agreement 50", "of 32 calibration images", "c2.onnx not written"}},
		{"W8A8 passes --min-agreement 100", quantize(filepath.Join(dir, "a8.onnx"), "--wbits", "8", "--abits", "8", "--min-agreement", "100"), filepath.Join(dir, "a8.onnx"), 0, true, nil},
		{"--min-agreement over 100", []string{"convert", model, "-o", filepath.Join(dir, "m.onnx"), "--min-agreement", "101"}, filepath.Join(dir, "m.onnx"), 2, false, []string{"--min-agreement 101"}},
		{"negative --max-drop", quantize(filepath.Join(dir, "n.onnx"), "--max-drop", "-1"), filepath.Join(dir, "n.onnx"), 2, false, []string{"--max-drop -1"}},
		{"eval under --min-top1", eval("--min-top1", "95"), "", 3, false, []string{"--min-top1 95", "top-1 94.60%", "1000 images"}},
		{"eval over --min-top1", eval("--min-top1", "94.6"), "", 0, false, nil},
		{"--min-top1 over 100", eval("--min-top1", "101"), "", 2, false, []string{"--min-top1 101"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := sharpq(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			for _, w := range tc.want {
				if !strings.HasPrefix(last, "sharpq: error: ") || !strings.Contains(last, w) {
					t.Errorf("last line of stderr %q: want the error, mentioning %q", last, w)
				}
			}
			if tc.out != "" {
				if _, err := os.Stat(tc.out); (err == nil) != tc.written {
					t.Errorf("output written: %v, want %v", err == nil, tc.written)
				}
			} else if tc.code != 2 && !strings.Contains(stdout, "top-1 94.60%") {
				t.Errorf("eval printed %q, want its result also when the gate fails", stdout)
			}
		})
	}
	// A refused model is still reported: the JSON and --report are what a pipeline reads.
	t.Run("refused run reported", func(t *testing.T) {
		out, rep := filepath.Join(dir, "w2r.onnx"), filepath.Join(dir, "report")
		code, stdout, stderr := sharpq(t, quantize(out, "--wbits", "2", "--abits", "4", "--max-drop", "1", "--json", "--report", rep)...)
		if code != 3 {
			t.Fatalf("exit %d, want 3: %s", code, stderr)
		}
		var r struct {
			Output   string
			Refused  string
			Accuracy *struct{ Top1 float64 }
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("stdout is not the run's JSON: %v: %q", err, stdout)
		}
		if r.Output != "" || !strings.Contains(r.Refused, "--max-drop 1") || r.Accuracy == nil {
			t.Errorf("JSON output %q, refused %q, accuracy %v: want no output, the gate's refusal and the accuracy", r.Output, r.Refused, r.Accuracy)
		}
		md, err := os.ReadFile(filepath.Join(rep, "report.md"))
		if err != nil || !strings.Contains(string(md), "not written") {
			t.Errorf("report.md (%v) does not say the model was not written", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("the refused model was written")
		}
	})
}

// A report's command_line runs the same job again: the config file's settings are written
// out as flags, and the command line gives the same model.
func TestReportCommandLine(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	cfg := filepath.Join(dir, "q.yaml")
	if err := os.WriteFile(cfg, []byte("mean: [0.2860]\nstd: 0.3530\nwbits: 3\nfloat-residual: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, "first.onnx")
	code, stdout, stderr := sharpq(t, "quantize", model, "--config", cfg, "--calib-data", sub, "--calib-images", "16", "--iters", "2", "--json", "-o", first)
	if code != 0 {
		t.Fatal(stderr)
	}
	var rep struct{ Settings map[string]string }
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	line := rep.Settings["command_line"]
	for _, want := range []string{"sharpq quantize ", "--wbits 3", "--float-residual", "--mean 0.286", "--std 0.353", "--iters 2", "--json", " " + model} {
		if !strings.Contains(line, want) {
			t.Errorf("command_line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "--config") || !strings.HasSuffix(line, model) {
		t.Errorf("command_line %q: want the config's settings as flags and the model last", line)
	}
	words := strings.Fields(line)
	again := filepath.Join(dir, "again.onnx")
	for i, w := range words {
		if w == first {
			words[i] = again
		}
	}
	if code, _, stderr := sharpq(t, words[1:]...); code != 0 {
		t.Fatalf("%s: %s", strings.Join(words, " "), stderr)
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(again)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the report's command line made another model (%d vs %d bytes)", len(a), len(b))
	}
}

func TestOneLineDropsPackagePrefixes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"convert: final reconstruction: quantizer: block03: loss is NaN", "final reconstruction: block03: loss is NaN"},
		{"onnxio: m.onnx: truncated or corrupt protobuf", "m.onnx: truncated or corrupt protobuf"},
		{"--labels: calib: open\n  l.npy", "--labels: open l.npy"},
		{"sort: dir: ir2: kept", "sort: dir: ir2: kept"},
	} {
		if got := oneLine(errors.New(tt.in)); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
