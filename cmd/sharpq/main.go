// Command sharpq quantizes float ONNX CNNs to low-bit QDQ ONNX without real data.
//
// Every command prints errors as one line on stderr prefixed "sharpq: error:" and exits with
// status 1; usage errors exit with status 2, a model that misses a quality gate (--max-drop,
// --min-agreement, --min-top1) with status 3, and an interrupted run with 130.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	sharpqversion "github.com/sharpq/sharpq/internal/version"
	"github.com/sharpq/sharpq/option"
)

// version may be set at build time with -ldflags "-X main.version=…"; otherwise sharpqVersion
// takes what the Go toolchain stamped into the binary.
var version = ""

// sharpqVersion names this build for --version and the exported models' metadata: the
// -ldflags version, else the module version (`go install …@v1.2.3`), else the pseudo-version
// `go build` derives from the checkout's commit (with +dirty for uncommitted changes), else
// "dev" (`go run`, tests).
func sharpqVersion() string {
	if version != "" {
		return version
	}
	return sharpqversion.Default()
}

func main() {
	if os.Getenv("GOGC") == "" {
		// Synthesis and reconstruction hold buffers of hundreds of MB in Go memory beside
		// ONNX Runtime's C allocations, which the collector does not see; at the default
		// pacing (collect at twice the live heap) the garbage of a finished batch or block
		// stays into the next one's peak. At 25 % a two-batch convert of MobileNetV3 at
		// 224×224 peaked at 7.2 GB instead of 9.5, at the same speed (BENCHMARKS.md).
		debug.SetGCPercent(25)
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp(stdout, stderr)
	if len(args) > 2 && (args[1] == "-h" || args[1] == "--help") {
		// `sharpq -h TOPIC` means `sharpq help TOPIC`; cli's own answer to an unknown topic
		// is exit 1.
		args = append([]string{args[0], "help"}, args[2:]...)
	}
	err := app.RunContext(ctx, flagsFirst(app, args))
	if err == nil {
		return 0
	}
	msg, code := exitFor(err)
	if logsJSON(args) {
		// As the log records are: one JSON object a line, for the collector reading them.
		level := "ERROR"
		if code == 130 {
			level = "WARN"
		}
		json.NewEncoder(stderr).Encode(map[string]any{"level": level, "msg": msg, "exit": code})
		return code
	}
	if code == 130 {
		fmt.Fprintf(stderr, "sharpq: %s\n", msg)
	} else {
		fmt.Fprintf(stderr, "sharpq: error: %s\n", msg)
	}
	return code
}

// exitFor returns the one-line message and the exit status for a command's error.
func exitFor(err error) (string, int) {
	err = flagNames().Rename(err)
	// A library's complaint about a setting that a flag gave is a usage error too; its own
	// text names the flag, so the packages it passed through add nothing.
	var bad *option.Error
	if errors.As(err, &bad) && strings.HasPrefix(bad.Name, "-") {
		if bad.Err != nil {
			return oneLine(bad), 1 // the flag is fine; what it names could not be read
		}
		return oneLine(bad), 2
	}
	var usage usageError
	if errors.As(err, &usage) {
		return oneLine(err), 2
	}
	var gate gateError
	if errors.As(err, &gate) {
		return oneLine(err), 3
	}
	if errors.Is(err, context.Canceled) {
		var saved progressSaved
		if errors.As(err, &saved) {
			return fmt.Sprintf("interrupted; the progress is in %s: the same command with --resume continues it", saved.dir), 130
		}
		return "interrupted", 130
	}
	return oneLine(err), 1
}

// logsJSON reports whether the command line asks for JSON log records (--log-format json
// before the command), which the final error line then follows.
func logsJSON(args []string) bool {
	for i := 1; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		switch {
		case args[i] == "--log-format=json" || args[i] == "-log-format=json":
			return true
		case (args[i] == "--log-format" || args[i] == "-log-format") && i+1 < len(args):
			return args[i+1] == "json"
		}
	}
	return false
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "sharpq",
		Usage:     "data-free low-bit quantization of ONNX CNNs",
		Version:   sharpqVersion(),
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			cli.HelpFlag, // cli adds it only when it adds its own help command, which helpCommand replaces
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "stage and progress log lines on stderr: text or json (log/slog)"},
		},
		Before: func(c *cli.Context) error {
			switch c.String("log-format") {
			case "text", "json":
				return nil
			}
			return usageError{fmt.Errorf("--log-format %q: want text or json", c.String("log-format"))}
		},
		Commands: []*cli.Command{
			inspectCommand(),
			evalCommand(),
			withResumeHint(withConfig(quantizeCommand())),
			withResumeHint(withConfig(convertCommand())),
			generateCommand(),
			benchCommand(),
			helpCommand(),
		},
		// Usage errors come back as errors, printed once by run.
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageError{flagParseError(nil, err)}
		},
		Action:         unknownCommand,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		strictUsage(cmd)
	}
	return app
}

// progressSaved marks an error of a run that kept its progress in a work folder, dir.
type progressSaved struct {
	error
	dir string
}

func (e progressSaved) Unwrap() error { return e.error }

// withResumeHint makes an interrupted run of cmd that has a --work-dir say where its progress
// is and how to continue it (an --estimate keeps no progress).
func withResumeHint(cmd *cli.Command) *cli.Command {
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		err := action(c)
		if dir := c.String("work-dir"); err != nil && dir != "" && !c.Bool("estimate") && errors.Is(err, context.Canceled) {
			return progressSaved{err, dir}
		}
		return err
	}
	return cmd
}

// usageError marks a bad command line (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return packagePrefix.ReplaceAllString(strings.Join(strings.Fields(err.Error()), " "), "$1")
}

// packagePrefix matches the "quantizer: " a library package puts before its errors, which
// tell a command-line user nothing: the message names the file, node or flag.
var packagePrefix = regexp.MustCompile(`(^|: )(?:onnxio|ir|ort|calib|quantizer|generator|convert|inspect|report|option|infer|autodiff|train|checkpoint|steptime|parallel|atomicfile): `)

// runtimeFlags are the flags every command that runs a model shares: ONNX Runtime's, the
// input shape of a model exported with dynamic dimensions, and the output that holds the logits.
func runtimeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime shared library (default: $SHARPQ_ORT_LIB, ./.ort, system folders)", EnvVars: []string{"SHARPQ_ORT_LIB"}},
		&cli.StringFlag{Name: "device", Value: "cpu", Usage: "execution provider: cpu or cuda"},
		&cli.IntFlag{Name: "threads", Usage: "intra-op threads (0 = ONNX Runtime's default, one per core)"},
		&cli.StringFlag{Name: "input-shape", Usage: inputShapeUsage},
		logitsFlag(),
	}
}

// flagsFirst moves a command's positional arguments after its flags, so that
// `sharpq convert MODEL -o OUT` works: urfave/cli stops reading flags at the first positional.
func flagsFirst(app *cli.App, args []string) []string {
	// Skip the global flags before the command name.
	at := 1
	for at < len(args) && strings.HasPrefix(args[at], "-") {
		if !strings.Contains(args[at], "=") && args[at] != "--help" && args[at] != "-h" && args[at] != "--version" && args[at] != "-v" {
			at++ // the flag's value
		}
		at++
	}
	if at >= len(args)-1 {
		return args
	}
	cmd := app.Command(args[at])
	if cmd == nil {
		return args
	}
	boolFlag := map[string]bool{"help": true, "h": true}
	for _, f := range cmd.Flags {
		// Flags that take no value (bool flags, also when wrapped for --config).
		if tv, ok := f.(interface{ TakesValue() bool }); ok && !tv.TakesValue() {
			for _, n := range f.Names() {
				boolFlag[n] = true
			}
		}
	}
	var flags, pos []string
	dashes := false
	rest := args[at+1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i+1:]...)
			dashes = true
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
	out := append(append([]string{}, args[:at+1]...), flags...)
	if dashes {
		out = append(out, "--")
	}
	return append(out, pos...)
}

// logger returns the slog logger the --log-format flag asks for, writing to stderr.
func logger(c *cli.Context) *slog.Logger {
	var h slog.Handler
	opts := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{} // progress lines are read by people and CI logs, which stamp time
		}
		return a
	}}
	if c.String("log-format") == "json" {
		h = slog.NewJSONHandler(c.App.ErrWriter, opts)
	} else {
		h = slog.NewTextHandler(c.App.ErrWriter, opts)
	}
	return slog.New(h)
}

// logfTo adapts a logger to the printf-style stage logs of the library packages. Their lines
// that open with "warning: " are logged at the warning level, without the word.
func logfTo(l *slog.Logger) func(format string, args ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if rest, ok := strings.CutPrefix(msg, "warning: "); ok {
			l.Warn(rest)
			return
		}
		l.Info(msg)
	}
}
