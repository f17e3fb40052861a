package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// withConfig lets every flag of cmd also come from a YAML (or JSON) file named by --config,
// keyed by the flag's name (e.g. `wbits: 2`, `preset: fast`); flags on the command line win.
// Flags marked required are checked after the file is read, so the file can supply them.
func withConfig(cmd *cli.Command) *cli.Command {
	var required []string
	flags := make([]cli.Flag, 0, len(cmd.Flags)+1)
	for _, f := range cmd.Flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			if f.Required {
				required = append(required, f.Name)
				f.Required = false
			}
			flags = append(flags, altsrc.NewStringFlag(f))
		case *cli.IntFlag:
			flags = append(flags, altsrc.NewIntFlag(f))
		case *cli.BoolFlag:
			flags = append(flags, altsrc.NewBoolFlag(f))
		case *cli.Uint64Flag:
			flags = append(flags, altsrc.NewUint64Flag(f))
		default:
			flags = append(flags, f)
		}
	}
	flags = append(flags, &cli.StringFlag{Name: "config", Usage: "read flags from a YAML or JSON file (command-line flags win)"})
	cmd.Flags = flags
	load := altsrc.InitInputSourceWithContext(flags, altsrc.NewYamlSourceFromFlagFunc("config"))
	cmd.Before = func(c *cli.Context) error {
		if c.String("config") != "" {
			if err := load(c); err != nil {
				return fmt.Errorf("--config %s: %s", c.String("config"), strings.TrimSpace(err.Error()))
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
