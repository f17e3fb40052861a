package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/testmodels"
)

// Every bad command line is one error line on stderr naming the flag with its dashes, exit
// status 2, and nothing on stdout (where --json output goes): none of urfave/cli's help dumps.
func TestUsageErrors(t *testing.T) {
	model := "../../testmodels/" + testmodels.DefaultModel
	sub, lab := "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels
	dir := t.TempDir()
	floatLabels, bigLabels := filepath.Join(dir, "f32.npy"), filepath.Join(dir, "big.npy")
	if err := calib.SaveNPYFloat32(floatLabels, make([]float32, 1000), []int{1000}); err != nil {
		t.Fatal(err)
	}
	big := make([]int64, 1000)
	big[0] = 57
	if err := calib.SaveNPYInt64(bigLabels, big, []int{1000}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"integer flag", []string{"convert", model, "-o", "x.onnx", "--abits", "abc"}, []string{`--abits "abc"`, "whole number"}},
		{"unsigned flag", []string{"convert", model, "-o", "x.onnx", "--seed", "-1"}, []string{`--seed "-1"`, "0 or more"}},
		{"float flag", []string{"quantize", "--model", model, "--calib-data", sub, "-o", "x.onnx", "--act-lr", "fast"}, []string{`--act-lr "fast"`, "number"}},
		{"unknown flag", []string{"eval", "--bogus"}, []string{"no flag --bogus", "sharpq eval --help"}},
		{"global flag after the command", []string{"eval", "--log-format", "json", "--model", model}, []string{"--log-format", "before the command"}},
		{"no model", []string{"eval", "--data", sub}, []string{"eval needs a model", "--model MODEL.onnx"}},
		{"required output", []string{"generate", model}, []string{"--output is required"}},
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "convert"}},
		{"argument and another --model", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "other.onnx"}, []string{"two models: other.onnx as the argument", "give one"}},
		{"two arguments", []string{"convert", model, "other.onnx", "-o", "x.onnx"}, []string{"convert takes one MODEL.onnx argument, not 2"}},
		{"library setting named as its flag", []string{"convert", model, "-o", "x.onnx", "--method", "zeroq"}, []string{`--method "zeroq"`}},
		{"unknown preset", []string{"convert", model, "-o", "x.onnx", "--preset", "slow"}, []string{`--preset "slow"`, "fast, quick or paper"}},
		{"no images asked for", []string{"convert", model, "-o", "x.onnx", "--images", "0"}, []string{"--images 0", "want 1 or more", "the fast preset's: 256"}},
		{"no generation steps asked for", []string{"generate", model, "-o", "g", "--preset", "quick", "--gen-steps", "0"}, []string{"--gen-steps 0", "the quick preset's: 200"}},
		{"unknown quantize preset", []string{"quantize", model, "--calib-data", sub, "-o", "x.onnx", "--preset", "slow"}, []string{`--preset "slow"`, "fast, quick or paper"}},
		{"the preset's sentinel given explicitly", []string{"quantize", "--model", model, "--calib-data", sub, "-o", "x.onnx", "--iters", "-1"}, []string{"--iters -1", "0 or more"}},
		{"NaN rate", []string{"quantize", "--model", model, "--calib-data", sub, "-o", "x.onnx", "--act-lr", "nan"}, []string{"--act-lr NaN", "finite"}},
		{"infinite refinement scale", []string{"convert", model, "-o", "x.onnx", "--refine-lr-scale", "inf"}, []string{"--refine-lr-scale +Inf", "finite"}},
		{"NaN gate", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--min-top1", "nan"}, []string{"--min-top1 NaN"}},
		{"unknown global flag", []string{"--bogus"}, []string{"no flag --bogus before the command"}},
		{"bad boolean", []string{"quantize", "--model", model, "--calib-data", sub, "-o", "x.onnx", "--json=maybe"}, []string{`--json "maybe"`, "true or false"}},
		{"mixtures beyond memory", []string{"quantize", "--model", model, "--calib-data", sub, "-o", "x.onnx", "--iters", "0", "--mixup", "100000000000"}, []string{"--mixup", "GB of memory is available"}},
		{"synthetic set beyond memory", []string{"convert", model, "-o", "x.onnx", "--images", "1000000000", "--gen-batch", "8"}, []string{"--images (each held synthesised and refined): 2000000000 images", "GB of memory is available"}},
		{"GENIE's set beyond memory", []string{"convert", model, "-o", "x.onnx", "--method", "genie", "--mirror", "--images", "1000000000", "--gen-batch", "8"}, []string{"--images (each held synthesised and mirrored): 2000000000 images", "GB of memory is available"}},
		{"bench runs beyond reason", []string{"bench", "--model", model, "--runs", "1000000000000"}, []string{"--runs 1000000000000", "want 1 to"}},
		{"labels file of floats", []string{"eval", "--model", model, "--data", sub, "--labels", floatLabels}, []string{"--labels: ", "want an integer dtype"}},
		{"test labels beyond the classes, before quantizing", []string{"quantize", "--model", model, "--calib-data", sub, "-o", "x.onnx", "--iters", "0", "--eval-data", sub, "--eval-labels", bigLabels},
			[]string{"--eval-labels: label", "not below the model's 10 classes"}},
		{"help on no such command", []string{"help", "nosuch"}, []string{`unknown command "nosuch"`}},
		{"help with a flag", []string{"help", "--json"}, []string{"no flag --json"}},
		{"-h on no such command", []string{"-h", "nosuch"}, []string{`unknown command "nosuch"`}},
		{"inspect estimate beyond reason", []string{"inspect", model, "--images", "9223372036854775807"}, []string{"--images 9223372036854775807", "at most"}},
		{"eval batch of none", []string{"eval", "--model", model, "--data", sub, "--labels", lab, "--batch", "0"}, []string{"--batch 0", "1 or more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := sharpq(t, tt.args...)
			line := strings.TrimSuffix(stderr, "\n")
			if code != 2 || stdout != "" || strings.Contains(line, "\n") || !strings.HasPrefix(line, "sharpq: error: ") {
				t.Fatalf("exit %d, stdout %d bytes, stderr %q: want exit 2, no stdout, one error line", code, len(stdout), stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not say %q", line, w)
				}
			}
			if strings.Contains(line, "convert:") || strings.Contains(line, "quantizer:") || strings.Contains(line, " -abits") {
				t.Errorf("error %q names a package or a one-dash flag", line)
			}
		})
	}
}

// A bad value that came from --config is reported with the file's name, since the command
// line the user looks at does not show it; the same value on the command line is not.
func TestConfigValueErrorNamesFile(t *testing.T) {
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	cfg := filepath.Join(t.TempDir(), "q.yaml")
	if err := os.WriteFile(cfg, []byte("wbits: 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "q.onnx")
	for _, tt := range []struct {
		args []string
		file bool
	}{
		{[]string{"--config", cfg}, true},
		{[]string{"--wbits", "9"}, false},
	} {
		args := append([]string{"quantize", "--model", model, "--calib-data", sub, "-o", out}, tt.args...)
		code, _, stderr := sharpq(t, args...)
		if code != 2 || !strings.Contains(stderr, "--wbits 9") || strings.Contains(stderr, cfg) != tt.file {
			t.Errorf("%v: exit %d, %q: want exit 2 naming --wbits, and %s only when it set it", tt.args, code, stderr, cfg)
		}
	}
}

// Help in its every form goes to stdout with exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "convert"}, {"-h", "convert"}, {"h", "eval"}, {"convert", "--help"}, {"quantize", "-h", "--wbits", "3"}} {
		code, stdout, stderr := sharpq(t, args...)
		if code != 0 || !strings.Contains(stdout, "USAGE:") || stderr != "" {
			t.Errorf("%v: exit %d, stdout %d bytes, stderr %q: want the help on stdout, exit 0", args, code, len(stdout), stderr)
		}
	}
}

// With --log-format json the final error is a JSON record like the log's, with its exit
// status, so that a collector reading stderr needs no second parser.
func TestErrorAsJSONRecord(t *testing.T) {
	code, stdout, stderr := sharpq(t, "--log-format", "json", "eval", "--bogus")
	var rec struct {
		Level, Msg string
		Exit       int
	}
	if err := json.Unmarshal([]byte(stderr), &rec); err != nil || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("stderr %q: want one JSON record (%v)", stderr, err)
	}
	if code != 2 || stdout != "" || rec.Level != "ERROR" || rec.Exit != 2 || !strings.Contains(rec.Msg, "--bogus") {
		t.Errorf("exit %d, record %+v: want exit 2 and an ERROR record naming --bogus", code, rec)
	}
}

// A config file is read as the command line is: aliases are names too, and what cannot be
// used is a usage error that names the file and says what it wants.
func TestConfigFileErrors(t *testing.T) {
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		code       int
		want       []string
	}{
		{"a list, not a mapping", "- wbits\n- 4\n", 2, []string{"want a mapping of flag names to values"}},
		{"a value the flag cannot parse", "wbits: abc\n", 2, []string{`wbits: "abc": want a whole number`}},
		{"an alias", "o: " + filepath.Join(dir, "absent", "q.onnx") + "\n", 1, []string{"--output", "does not exist"}},
		{"not a flag", "wbit: 4\n", 2, []string{`"wbit" is not a flag`}},
		{"a list for a single value", "wbits: [4, 2]\n", 2, []string{`wbits: "4,2": want a whole number`}},
		{"a mapping", "mean: {r: 0.5}\n", 2, []string{"mean: want a value or a list of values"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
			if err := os.WriteFile(cfg, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := sharpq(t, "quantize", "--model", model, "--calib-data", sub, "--config", cfg)
			if code != tt.code || stdout != "" || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q: want exit %d and one error line", code, stdout, stderr, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not say %q", stderr, w)
				}
			}
		})
	}
}

// Every command that reads a model takes it as its argument, as --model, or (quantize,
// convert) from --config, and each form runs the same job.
func TestModelArgument(t *testing.T) {
	orttest.LibPath(t)
	model := "../../testmodels/" + testmodels.DefaultModel
	sub, lab := "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels
	dir := t.TempDir()
	cfg := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(cfg, []byte("model: "+model+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	quantize := []string{"--calib-data", sub, "--calib-images", "32", "--mean", "0.2860", "--std", "0.3530", "--iters", "0", "--json"}
	tests := []struct {
		name  string
		forms [][]string
	}{
		{"inspect", [][]string{{"inspect", model, "--json"}, {"inspect", "--model", model, "--json"}, {"inspect", "--json", model, "--model", model}}},
		{"eval", [][]string{
			{"eval", model, "--data", sub, "--labels", lab, "--mean", "0.2860", "--std", "0.3530", "--json"},
			{"eval", "--model", model, "--data", sub, "--labels", lab, "--mean", "0.2860", "--std", "0.3530", "--json"},
		}},
		{"quantize", [][]string{
			append([]string{"quantize", model, "-o", filepath.Join(dir, "a.onnx")}, quantize...),
			append([]string{"quantize", "--model", model, "-o", filepath.Join(dir, "b.onnx")}, quantize...),
			append([]string{"quantize", "--config", cfg, "-o", filepath.Join(dir, "c.onnx")}, quantize...),
			// The argument wins over the file, as every command-line flag does.
			append([]string{"quantize", model, "--config", filepath.Join(dir, "elsewhere.yaml"), "-o", filepath.Join(dir, "d.onnx")}, quantize...),
		}},
	}
	if err := os.WriteFile(filepath.Join(dir, "elsewhere.yaml"), []byte("model: no-such.onnx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// What differs between the forms' JSON: the output file, the times and the free memory.
	varying := regexp.MustCompile(`"(output|seconds|images_per_s|available_bytes)": ?[^,\n}]*|[abcd]\.onnx`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first string
			for i, args := range tt.forms {
				code, stdout, stderr := sharpq(t, args...)
				if code != 0 {
					t.Fatalf("%q: exit %d: %s", args, code, stderr)
				}
				got := varying.ReplaceAllString(stdout, "")
				if i == 0 {
					first = got
				} else if got != first {
					t.Errorf("%q printed\n%s\nwhere the first form printed\n%s", args, got, first)
				}
			}
		})
	}
}

// The quick presets (quantize's and convert's) learn FlexRound's rounding unless --rounding
// says otherwise, and refuse AdaRound's regulariser weight that FlexRound has no use for.
func TestQuickPreset(t *testing.T) {
	orttest.LibPath(t)
	model := "../../testmodels/" + testmodels.DefaultModel
	sub := "../../testmodels/" + testmodels.SubsetImages
	dir := t.TempDir()
	for _, cmd := range []struct {
		name string
		args []string
	}{
		{"quantize", []string{"quantize", model, "--calib-data", sub, "--calib-images", "16", "--mean", "0.2860", "--std", "0.3530"}},
		// GENIE's images alone: no warm-up or refinement to wait for, so --refine-steps is
		// ignored, with a warning.
		{"convert", []string{"convert", model, "--method", "genie", "--images", "8", "--gen-batch", "8", "--gen-steps", "2", "--threads", "1", "--refine-steps", "2"}},
	} {
		args := func(out string, extra ...string) []string {
			a := append(slices.Clone(cmd.args), "--preset", "quick", "--iters", "3", "--json", "-o", filepath.Join(dir, out))
			return append(a, extra...)
		}
		for _, tt := range []struct {
			extra    []string
			rounding string
		}{
			{nil, "flexround"},
			{[]string{"--rounding", "adaround"}, "adaround"},
		} {
			code, stdout, stderr := sharpq(t, args(cmd.name+".onnx", tt.extra...)...)
			if code != 0 {
				t.Fatalf("%s %v: exit %d: %s", cmd.name, tt.extra, code, stderr)
			}
			if ignored := "--refine-steps: --method genie has no warm-up or refinement; ignored"; cmd.name == "convert" && !strings.Contains(stderr, ignored) {
				t.Errorf("convert --method genie --refine-steps 2 does not warn %q:\n%s", ignored, stderr)
			}
			var r struct {
				Preset, Rounding string
				Iters            int
			}
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatal(err)
			}
			if r.Preset != "quick" || r.Rounding != tt.rounding || r.Iters != 3 {
				t.Errorf("%s %v: preset %q, rounding %q, %d steps; want quick, %s, 3", cmd.name, tt.extra, r.Preset, r.Rounding, r.Iters, tt.rounding)
			}
		}
		if code, _, stderr := sharpq(t, args("w.onnx", "--round-weight", "0.1")...); code != 2 || !strings.Contains(stderr, "--round-weight 0.1: FlexRound (the quick preset's rounding)") {
			t.Errorf("%s --round-weight with the quick preset: exit %d, %q; want a usage error naming it", cmd.name, code, stderr)
		}
	}
	// convert's result line, as quantize's, sets the file's size against the float model's.
	code, stdout, stderr := sharpq(t, "convert", model, "--method", "genie", "--images", "8", "--gen-batch", "8", "--gen-steps", "2", "--threads", "1",
		"--preset", "quick", "--iters", "0", "-o", filepath.Join(dir, "line.onnx"))
	line := regexp.MustCompile(`line\.onnx: W4A4, genie, quick preset \(--gen-steps 2, --gen-batch 8, --iters 0\), 8 synthetic images, \d+s; \d+ bytes \(float: \d+, \d+\.\d× smaller\)\n$`)
	if code != 0 || !line.MatchString(stdout) {
		t.Errorf("convert's result line: exit %d, %q (%s); want it to match %s", code, stdout, stderr, line)
	}
}
