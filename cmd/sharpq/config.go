package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/sharpq/sharpq/option"
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
	var fromConfig []string // the flags the file set, to name it in errors about them
	cmd.Before = func(c *cli.Context) error {
		if path := c.String("config"); path != "" {
			set, err := applyConfig(c, cmd, path)
			if err != nil {
				return err
			}
			fromConfig = set
		}
		for _, name := range required {
			if c.String(name) == "" {
				return usageError{fmt.Errorf("--%s is required (on the command line or in --config)", name)}
			}
		}
		return nil
	}
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		return namingConfig(action(c), c.String("config"), fromConfig)
	}
	return cmd
}

// namingConfig adds config file path to an error about a setting that the file gave (one of
// the flags in set), which would otherwise send the user to a command line that lacks it.
func namingConfig(err error, path string, set []string) error {
	var bad *option.Error
	if err == nil || !errors.As(flagNames().Rename(err), &bad) {
		return err
	}
	flag, _, _ := strings.Cut(bad.Name, " ") // "--layer-bits NODE" names the flag and an entry
	if !slices.Contains(set, strings.TrimPrefix(flag, "--")) {
		return err
	}
	return option.Errorf(bad.Name, "%[2]s (set in --config %[3]s)", bad.Text, path)
}

// applyConfig sets every flag that config file path names and the command line left unset.
// Values go through the flags' own parsers, so `act-clip-norm: 2` fills a float flag and a
// bad value is reported as the command line would report it.
func applyConfig(c *cli.Context, cmd *cli.Command, path string) (set []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(data, &settings); err != nil {
		if strings.Contains(err.Error(), "cannot unmarshal") {
			return nil, usageError{fmt.Errorf("--config %s: want a mapping of flag names to values (wbits: 4)", path)}
		}
		return nil, usageError{fmt.Errorf("--config %s: %s", path, strings.TrimSpace(err.Error()))}
	}
	primary := map[string]string{} // every name of a flag (o, output) to its first
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			primary[n] = f.Names()[0]
		}
	}
	for _, key := range slices.Sorted(maps.Keys(settings)) {
		k, ok := primary[key]
		if !ok || k == "config" {
			return nil, usageError{fmt.Errorf("--config %s: %q is not a flag of this command (--help lists them)", path, key)}
		}
		if c.IsSet(k) || (k == "model" && c.Args().Present()) {
			continue // the command line wins, also where it names the model as the argument
		}
		v, ok := configValue(settings[key])
		if !ok {
			return nil, usageError{fmt.Errorf("--config %s: %s: want a value or a list of values", path, key)}
		}
		if err := c.Set(k, v); err != nil {
			return nil, usageError{fmt.Errorf("--config %s: %s: %q: %s", path, key, v, wants(cmd, k))}
		}
		set = append(set, k)
	}
	return set, nil
}

// configValue is a config file's value as the command line would spell it: a list (mean:
// [0.485, 0.456, 0.406]) joined by commas, as --mean, --std and --layer-bits take several.
// Mappings, nested lists and empty values have no command-line form.
func configValue(x any) (string, bool) {
	switch x := x.(type) {
	case map[string]any, nil:
		return "", false
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			switch e.(type) {
			case map[string]any, []any, nil:
				return "", false
			}
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ","), len(parts) > 0
	default:
		return fmt.Sprint(x), true
	}
}
