package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// withConfig lets every flag of cmd also come from a YAML (or JSON) file named by --config,
// keyed by the flag's name (e.g. `wbits: 2`, `preset: fast`, `act-lr: 1.2e-4`); flags on the
// command line (or in their environment variable) win. Flags marked required are checked
// after the file is read, so the file can supply them. A key that names no flag is an error:
// a misspelt setting must not be dropped in silence.
func withConfig(cmd *cli.Command) *cli.Command {
	var required []string
	for _, f := range cmd.Flags {
		if f, ok := f.(*cli.StringFlag); ok && f.Required {
			required = append(required, f.Name)
			f.Required = false
		}
	}
	cmd.Flags = append(cmd.Flags, &cli.StringFlag{Name: "config", Usage: "read flags from a YAML or JSON file (command-line flags win)"})
	cmd.Before = func(c *cli.Context) error {
		if path := c.String("config"); path != "" {
			if err := applyConfig(c, cmd, path); err != nil {
				return err
			}
		}
		for _, name := range required {
			if c.String(name) == "" {
				return usageError{fmt.Errorf("--%s is required (on the command line or in --config)", name)}
			}
		}
		return nil
	}
	return cmd
}

// applyConfig sets every flag that config file path names and the command line left unset.
// Values go through the flags' own parsers, so `act-clip-norm: 2` fills a float flag and a
// bad value is reported as the command line would report it.
func applyConfig(c *cli.Context, cmd *cli.Command, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(data, &settings); err != nil {
		return fmt.Errorf("--config %s: %s", path, strings.TrimSpace(err.Error()))
	}
	var names []string
	for _, f := range cmd.Flags {
		names = append(names, f.Names()...)
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		if !slices.Contains(names, k) || k == "config" {
			return usageError{fmt.Errorf("--config %s: %q is not a flag of this command (--help lists them)", path, k)}
		}
		if c.IsSet(k) {
			continue
		}
		var v string
		switch x := settings[k].(type) {
		case map[string]any, []any, nil:
			return usageError{fmt.Errorf("--config %s: %s: want a single value", path, k)}
		default:
			v = fmt.Sprint(x)
		}
		if err := c.Set(k, v); err != nil {
			return usageError{fmt.Errorf("--config %s: %s: %q: %v", path, k, v, err)}
		}
	}
	return nil
}
