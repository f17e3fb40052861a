package main

import (
	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/internal/ort"
)

// openRuntime opens ONNX Runtime as the runtime flags say.
func openRuntime(c *cli.Context) (*ort.Runtime, error) {
	lib, err := ort.FindLibrary(c.String("ort-lib"))
	if err != nil {
		return nil, err
	}
	return ort.Open(ort.Options{LibPath: lib, Device: c.String("device"), Threads: c.Int("threads")})
}
