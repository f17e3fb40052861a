package main

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// strictUsage makes every bad command line of cmd a one-line usage error (exit status 2)
// instead of urfave/cli's defaults, which print the whole help to stdout (where --json output
// goes) and exit 1: flag parse errors are reworded with the flag's two dashes and what it
// takes, required flags are checked here rather than by cli, and a command without
// positional arguments refuses stray ones instead of ignoring them.
func strictUsage(cmd *cli.Command) *cli.Command {
	cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return usageError{flagParseError(cmd, err)}
	}
	var required []string
	for _, f := range cmd.Flags {
		if f, ok := f.(*cli.StringFlag); ok && f.Required {
			required = append(required, f.Name)
			f.Required = false
		}
	}
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if cmd.ArgsUsage == "" && c.Args().Present() {
			return usageError{fmt.Errorf("%s takes no arguments, only flags: %q is not one (sharpq %s --help)", cmd.Name, c.Args().First(), cmd.Name)}
		}
		if before != nil {
			if err := before(c); err != nil {
				return err
			}
		}
		if err := checkNumbers(cmd, c); err != nil {
			return err
		}
		for _, name := range required {
			if c.String(name) == "" {
				return usageError{fmt.Errorf("--%s is required (sharpq %s --help)", name, cmd.Name)}
			}
		}
		return nil
	}
	return cmd
}

var (
	invalidValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([\w-]+): (.*)$`)
	undefined    = regexp.MustCompile(`^flag provided but not defined: -+([\w-]+)$`)
	needsValue   = regexp.MustCompile(`^flag needs an argument: -+([\w-]+)$`)
)

// modelFlag is --model, which every command that reads a model takes as well as the model
// as its argument: `sharpq quantize m.onnx …` and `sharpq convert --model m.onnx …` both
// work, and a --config file can name the model (model: m.onnx).
func modelFlag(what string) cli.Flag {
	return &cli.StringFlag{Name: "model", Usage: what + " (or the MODEL.onnx argument)"}
}

// modelArg returns the model the command line names: its one argument or --model. An
// argument and a different --model are a usage error rather than a guess.
func modelArg(c *cli.Context) (string, error) {
	name, flag := c.Command.Name, c.String("model")
	switch args := c.Args().Slice(); {
	case len(args) > 1:
		return "", usageError{fmt.Errorf("%s takes one MODEL.onnx argument, not %d (%s)", name, len(args), strings.Join(args, " "))}
	case len(args) == 1 && flag != "" && args[0] != flag:
		return "", usageError{fmt.Errorf("two models: %s as the argument and %s as --model; give one", args[0], flag)}
	case len(args) == 1:
		return args[0], nil
	case flag == "":
		return "", usageError{fmt.Errorf("%s needs a model: sharpq %s MODEL.onnx … (or --model MODEL.onnx)", name, name)}
	}
	return flag, nil
}

// globalFlags are the app's own flags, which go before the command name.
var globalFlags = map[string]bool{"log-format": true}

// flagParseError rewords the standard flag package's errors, which spell flags with one dash
// and say only "parse error", so that they name the flag as the user typed it and what it
// wants.
func flagParseError(cmd *cli.Command, err error) error {
	msg := err.Error()
	if cmd == nil { // the app's own flags
		cmd = &cli.Command{Name: "", Flags: []cli.Flag{&cli.StringFlag{Name: "log-format"}}}
	}
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s %q: %s", m[2], m[1], wants(cmd, m[2]))
	}
	if m := undefined.FindStringSubmatch(msg); m != nil {
		if cmd.Name == "" {
			return fmt.Errorf("sharpq has no flag %s before the command (a command's flags go after it: sharpq COMMAND --help)", dashes(m[1]))
		}
		if globalFlags[m[1]] {
			return fmt.Errorf("--%s goes before the command: sharpq --%s … %s …", m[1], m[1], cmd.Name)
		}
		return fmt.Errorf("sharpq %s has no flag %s (sharpq %s --help lists them)", cmd.Name, dashes(m[1]), cmd.Name)
	}
	if m := needsValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s needs a value", dashes(m[1]))
	}
	return err
}

// wants says what kind of value flag name of cmd takes.
func wants(cmd *cli.Command, name string) string {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			switch f.(type) {
			case *cli.IntFlag, *cli.Int64Flag:
				return "want a whole number"
			case *cli.UintFlag, *cli.Uint64Flag:
				return "want a whole number, 0 or more"
			case *cli.Float64Flag:
				return "want a number"
			case *cli.BoolFlag:
				return "want true or false"
			case *cli.DurationFlag:
				return "want a duration such as 90s or 5m"
			}
		}
	}
	return "not a valid value"
}

// dashes spells a flag name as it is typed: -o, --output.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// unknownCommand is the app's action when its first argument is not a command.
func unknownCommand(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowAppHelp(c)
	}
	var names []string
	for _, cmd := range c.App.Commands {
		if !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	return usageError{fmt.Errorf("unknown command %q: want one of %s", c.Args().First(), strings.Join(names, ", "))}
}

// checkNumbers refuses what the flag parsers accept but no setting can use: NaN or infinite
// values of float flags, and the negative "not given" value of an integer flag whose
// default means "the preset's" when the user gives it explicitly.
func checkNumbers(cmd *cli.Command, c *cli.Context) error {
	for _, f := range cmd.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) {
			continue
		}
		switch f := f.(type) {
		case *cli.Float64Flag:
			if v := c.Float64(name); math.IsNaN(v) || math.IsInf(v, 0) {
				return usageError{fmt.Errorf("--%s %g: want a finite number", name, v)}
			}
		case *cli.IntFlag:
			if f.Value < 0 && c.Int(name) < 0 {
				return usageError{fmt.Errorf("--%s %d: want 0 or more", name, c.Int(name))}
			}
		}
	}
	return nil
}

// helpCommand replaces urfave/cli's, which answers an unknown topic or flag with exit 1 and,
// for a flag, the whole help on stdout.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or one command's flags",
		ArgsUsage: "[COMMAND]",
		Action: func(c *cli.Context) error {
			switch c.Args().Len() {
			case 0:
				return cli.ShowAppHelp(c)
			case 1:
				name := c.Args().First()
				if c.App.Command(name) == nil {
					return unknownCommand(c)
				}
				return cli.ShowCommandHelp(c.Lineage()[1], name)
			}
			return usageError{fmt.Errorf("help takes one command name, not %d arguments", c.Args().Len())}
		},
	}
}

// commandLine is the command as a shell would run it again: every flag that the command line
// or --config set (the file's values written out, so the line stands without it), in the
// order --help lists them, with the model last. Reports carry it so that a run can be
// reproduced from its report.
func commandLine(c *cli.Context, model string) string {
	words := []string{"sharpq", c.Command.Name}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if name == "config" || name == "model" || !c.IsSet(name) {
			continue
		}
		switch v := c.Value(name).(type) {
		case bool:
			if v {
				words = append(words, "--"+name)
			} else {
				words = append(words, "--"+name+"=false")
			}
		default:
			words = append(words, "--"+name, shellWord(fmt.Sprint(v)))
		}
	}
	return strings.Join(append(words, shellWord(model)), " ")
}

// shellWord quotes s for a POSIX shell when it holds anything but letters, digits and
// -_./,:=+@%.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,:=+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
