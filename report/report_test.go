package report_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/report"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	r := &report.Report{
		Command: "convert", Model: "m.onnx", Output: "q.onnx", Settings: map[string]string{"wbits": "2"},
		Stages:         []quantizer.Stage{{Name: "generate", Seconds: 1.5}},
		Blocks:         []quantizer.BlockResult{{Name: "block00", Kind: "layer", Layers: 1, LossStart: 0.5, LossEnd: 0.1}},
		Layers:         []quantizer.LayerReport{{Node: "conv1", Bits: 2, InputBits: 4, WeightSQNR: 9.5}},
		SelfCheck:      quantizer.SelfCheck{Images: 8, Agreement: 100, FloatAgreement: 87.5, OutputSQNR: 12},
		Generation:     [][]float64{{3, 1, 0.5}, {2, 0.4}},
		BiasCorrection: &quantizer.BiasReport{Layers: 3, AgreementBefore: 50, AgreementAfter: 25},
	}
	if err := report.Write(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.json", "report.md", "generation.png", "reconstruction.png", "sqnr.png"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"| block00 | layer | 1 | 0.5 | 0.1 |", "| 0 | conv1 | 2 | 4 | 9.5 |", "top-1 agreement 87.50%", "![sqnr](sqnr.png)",
		"3 layers; top-1 agreement with the float model on the calibration images 50.00% before, 25.00% after: refused"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	var back report.Report
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Layers[0].WeightSQNR != 9.5 || back.BiasCorrection == nil || back.BiasCorrection.Layers != 3 {
		t.Errorf("report.json round trip: %v %+v", err, back.Layers)
	}
	if strings.Contains(string(md), "collapsed") {
		t.Error("report.md warns of a collapse at 87.5 % float agreement")
	}
	// A collapsed model is flagged in both files.
	r.SelfCheck.FloatAgreement, r.SelfCheck.Collapsed = 10, true
	if err := report.Write(dir, r); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(filepath.Join(dir, "report.md"))
	b, _ = os.ReadFile(filepath.Join(dir, "report.json"))
	if !strings.Contains(string(md), "warning: collapsed") || !strings.Contains(string(b), `"collapsed": true`) {
		t.Errorf("collapsed model not flagged:\n%s\n%s", md, b)
	}
}
