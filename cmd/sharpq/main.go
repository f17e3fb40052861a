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
	if err := app.RunContext(ctx, flagsFirst(app, args)); err != nil {
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
			withConfig(quantizeCommand()),
			withConfig(convertCommand()),
			generateCommand(),
			benchCommand(),
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

// flagsFirst moves a command's positional arguments after its flags, so that
// `sharpq convert MODEL -o OUT` works: urfave/cli stops reading flags at the first positional.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	boolFlag := map[string]bool{"help": true, "h": true}
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				boolFlag[n] = true
			}
		}
	}
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !boolFlag[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	return append(out, pos...)
}
