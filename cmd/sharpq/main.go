// Command sharpq quantizes float ONNX CNNs to low-bit QDQ ONNX without real data.
//
// Every command prints errors as one line on stderr prefixed "sharpq: error:" and exits with
// status 1; usage errors exit with status 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp(stdout, stderr)
	if err := app.RunContext(ctx, args); err != nil {
		var usage usageError
		if errors.As(err, &usage) {
			fmt.Fprintf(stderr, "sharpq: error: %s\n", oneLine(err))
			return 2
		}
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "sharpq: interrupted")
			return 130
		}
		fmt.Fprintf(stderr, "sharpq: error: %s\n", oneLine(err))
		return 1
	}
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "sharpq",
		Usage:     "data-free low-bit quantization of ONNX CNNs",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			inspectCommand(),
			evalCommand(),
			quantizeCommand(),
		},
		// Usage errors come back as errors, printed once by run.
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageError{err}
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// usageError marks a bad command line (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// runtimeFlags are the ONNX Runtime flags every command that runs a model shares.
func runtimeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime shared library (default: $SHARPQ_ORT_LIB, ./.ort, system folders)", EnvVars: []string{"SHARPQ_ORT_LIB"}},
		&cli.StringFlag{Name: "device", Value: "cpu", Usage: "execution provider: cpu or cuda"},
		&cli.IntFlag{Name: "threads", Usage: "intra-op threads (0 = ONNX Runtime's default, one per core)"},
	}
}
