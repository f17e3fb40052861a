// Package version tells which sharpq a program was built with, for the metadata of the models
// it writes when the caller names no version.
package version

import "runtime/debug"

// modulePath is sharpq's module.
const modulePath = "github.com/sharpq/sharpq"

// Default returns sharpq's module version from the build information: the main module's when
// sharpq is the program, the dependency's when a program imports it, and "dev" where the build
// records none (a plain `go build` in a checkout says "(devel)").
func Default() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	mod := &bi.Main
	if mod.Path != modulePath {
		mod = nil
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				mod = d
				break
			}
		}
	}
	if mod == nil {
		return "dev"
	}
	if mod.Replace != nil {
		// A folder on disk (no version) is a checkout, whatever version the require names.
		mod = mod.Replace
	}
	if mod.Version == "" || mod.Version == "(devel)" {
		return "dev"
	}
	return mod.Version
}
