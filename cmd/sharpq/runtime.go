package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/ort"
)

// openRuntime opens ONNX Runtime as the runtime flags say.
func openRuntime(c *cli.Context) (*ort.Runtime, error) {
	lib, err := ort.FindLibrary(ortLibFlag(c))
	if err != nil {
		return nil, err
	}
	return ort.Open(ort.Options{LibPath: lib, Device: c.String("device"), Threads: c.Int("threads")})
}

// ortLibFlag returns --ort-lib as given on the command line or in --config, and "" when the
// flag only carries $SHARPQ_ORT_LIB, so that ort.FindLibrary's errors name the variable the
// user actually set.
func ortLibFlag(c *cli.Context) string {
	v := c.String("ort-lib")
	if v != "" && v == os.Getenv(ort.EnvLibPath) {
		return ""
	}
	return v
}
