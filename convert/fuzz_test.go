package convert_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/inspect"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// FuzzModelChecks feeds arbitrary ONNX bytes through everything convert, quantize and inspect
// do to a model before they load ONNX Runtime: decoding, the option and model checks
// (Options.Validate builds the model's gradient graph), shape inference with constant
// folding, the block partition and the memory estimates. A model may be refused with an
// error; nothing may panic or hang. onnxio's FuzzDecode covers the decoder alone.
func FuzzModelChecks(f *testing.F) {
	seeds := []*ir.Model{
		testmodels.TinyResNet(1),
		testmodels.AsOldExport(testmodels.TinyResNet(2), 9),
		testmodels.WithNHWCInput(testmodels.TinyResNet(3)),
		testmodels.WithPadNodes(testmodels.TinyResNet(4)),
		testmodels.WithShuffleUnit(testmodels.TinyResNet(5)),
		testmodels.WithLinearAs(testmodels.TinyResNet(6), "matmul"),
		testmodels.WithPreprocessing(testmodels.TinyResNet(7), 0.5, 0.25),
		testmodels.DynamicSpatial(8),
		testmodels.WithLayerNorm(testmodels.TinyResNet(9)),
		testmodels.AsFloat16(testmodels.TinyResNet(10), true),
	}
	for _, m := range seeds {
		data, err := onnxio.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// The bundled ResNet-20 is too big to mutate usefully whole; its opening is a real
	// PyTorch export's header and first nodes.
	if real, err := os.ReadFile(filepath.Join("..", "testmodels", "resnet20_fmnist.onnx")); err == nil {
		f.Add(real[:4096])
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnxio.Decode(data, "")
		if err != nil {
			return
		}
		inspect.Model(m)
		quantizer.EstimateReconMemory(m)
		o := convert.Options{Model: m, Bits: quantizer.DefaultBits(4, 4)}
		if o.Validate() != nil {
			return
		}
		convert.EstimateMemory(m, convert.Fast(), convert.SADAG, 1)
	})
}
