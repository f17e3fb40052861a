package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"sharpq itself, tagged", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.2.0"}}, "v1.2.0"},
		{"sharpq itself, built in a checkout", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, "dev"},
		{"a program that imports it", debug.BuildInfo{Main: debug.Module{Path: "example.com/export"}, Deps: []*debug.Module{{Path: "golang.org/x/text", Version: "v0.1.0"}, {Path: modulePath, Version: "v1.3.1"}}}, "v1.3.1"},
		{"imported and replaced by a local folder", debug.BuildInfo{Main: debug.Module{Path: "example.com/export"}, Deps: []*debug.Module{{Path: modulePath, Version: "v0.0.0", Replace: &debug.Module{Path: "../sharpq"}}}}, "dev"},
		{"imported and replaced by another version", debug.BuildInfo{Main: debug.Module{Path: "example.com/export"}, Deps: []*debug.Module{{Path: modulePath, Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.0.1"}}}}, "v1.0.1"},
		{"not in the build", debug.BuildInfo{Main: debug.Module{Path: "example.com/other"}}, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo(&tt.bi); got != tt.want {
				t.Errorf("fromBuildInfo: %q, want %q", got, tt.want)
			}
		})
	}
}
