package ort

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// touch creates an empty file at path, with its parent folders.
func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// isolate points the search at folders under a fresh temporary directory
// and returns that directory's path. The working directory becomes
// root/work/sub/dir and the executable root/exe/bin/prog.
func isolate(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	wd := filepath.Join(root, "work", "sub", "dir")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
	t.Setenv(EnvLibPath, "")

	oldDirs, oldExe := systemDirs, executable
	systemDirs = []string{filepath.Join(root, "sys1"), filepath.Join(root, "sys2")}
	executable = func() (string, error) { return filepath.Join(root, "exe", "bin", "prog"), nil }
	t.Cleanup(func() { systemDirs, executable = oldDirs, oldExe })
	return root
}

func TestFindLibraryOrder(t *testing.T) {
	type files struct {
		explicit, env, wdLocal, wdParentLocal, exeLocal, sys1, sys1so1, sys2 bool
	}
	tests := []struct {
		name  string
		files files
		want  string // key into the paths map below
	}{
		{"explicit beats everything", files{true, true, true, true, true, true, true, true}, "explicit"},
		{"env beats local", files{false, true, true, true, true, true, true, true}, "env"},
		{"working directory .ort", files{false, false, true, true, true, true, true, true}, "wdLocal"},
		{"parent of working directory", files{false, false, false, true, true, true, true, true}, "wdParentLocal"},
		{"executable directory parent", files{false, false, false, false, true, true, true, true}, "exeLocal"},
		{"first system dir, unversioned name first", files{false, false, false, false, false, true, true, true}, "sys1"},
		{"first system dir, versioned name", files{false, false, false, false, false, false, true, true}, "sys1so1"},
		{"second system dir", files{false, false, false, false, false, false, false, true}, "sys2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := isolate(t)
			paths := map[string]string{
				"explicit":      filepath.Join(root, "flag", "libonnxruntime.so"),
				"env":           filepath.Join(root, "envdir", "libonnxruntime.so.1"),
				"wdLocal":       filepath.Join(root, "work", "sub", "dir", LocalLibPath),
				"wdParentLocal": filepath.Join(root, "work", LocalLibPath),
				"exeLocal":      filepath.Join(root, "exe", LocalLibPath),
				"sys1":          filepath.Join(root, "sys1", "libonnxruntime.so"),
				"sys1so1":       filepath.Join(root, "sys1", "libonnxruntime.so.1"),
				"sys2":          filepath.Join(root, "sys2", "libonnxruntime.so.1"),
			}
			present := map[string]bool{
				"explicit": tc.files.explicit, "env": tc.files.env,
				"wdLocal": tc.files.wdLocal, "wdParentLocal": tc.files.wdParentLocal,
				"exeLocal": tc.files.exeLocal, "sys1": tc.files.sys1,
				"sys1so1": tc.files.sys1so1, "sys2": tc.files.sys2,
			}
			for k, p := range paths {
				if present[k] {
					touch(t, p)
				}
			}
			explicit := ""
			if tc.files.explicit {
				explicit = paths["explicit"]
			}
			if tc.files.env {
				t.Setenv(EnvLibPath, paths["env"])
			}
			got, err := FindLibrary(explicit)
			if err != nil {
				t.Fatalf("FindLibrary: %v", err)
			}
			if got != paths[tc.want] {
				t.Errorf("FindLibrary = %s, want %s", got, paths[tc.want])
			}
		})
	}
}

func TestFindLibraryRelativeExplicitIsMadeAbsolute(t *testing.T) {
	root := isolate(t)
	want := touch(t, filepath.Join(root, "work", "sub", "dir", "lib", "libonnxruntime.so.1"))
	got, err := FindLibrary(filepath.Join("lib", "libonnxruntime.so.1"))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("FindLibrary = %s, want %s", got, want)
	}
}

func TestFindLibraryExplicitMissing(t *testing.T) {
	root := isolate(t)
	touch(t, filepath.Join(root, "work", LocalLibPath)) // must not be used
	missing := filepath.Join(root, "nope", "libonnxruntime.so.1")
	_, err := FindLibrary(missing)
	if err == nil {
		t.Fatal("FindLibrary succeeded for a missing explicit path")
	}
	msg := err.Error()
	for _, want := range []string{"ort: ", "Options.LibPath", missing, "does not exist"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestFindLibraryExplicitDirectory(t *testing.T) {
	root := isolate(t)
	if _, err := FindLibrary(root); err == nil || !strings.Contains(err.Error(), "Options.LibPath") {
		t.Errorf("FindLibrary(directory) error = %v, want one naming Options.LibPath", err)
	}
}

func TestFindLibraryEnvMissing(t *testing.T) {
	root := isolate(t)
	touch(t, filepath.Join(root, "work", LocalLibPath)) // must not be used
	missing := filepath.Join(root, "nope.so")
	t.Setenv(EnvLibPath, missing)
	_, err := FindLibrary("")
	if err == nil {
		t.Fatal("FindLibrary succeeded with SHARPQ_ORT_LIB naming a missing file")
	}
	if msg := err.Error(); !strings.Contains(msg, EnvLibPath) || !strings.Contains(msg, missing) {
		t.Errorf("error %q does not name %s and the path", msg, EnvLibPath)
	}
}

func TestFindLibraryNotFound(t *testing.T) {
	root := isolate(t)
	_, err := FindLibrary("")
	if err == nil {
		t.Fatal("FindLibrary succeeded with no library anywhere")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, want := range []string{
		"ort: ", "make ort", "Options.LibPath", EnvLibPath,
		filepath.Join(root, "work", "sub", "dir", LocalLibPath),
		filepath.Join(root, "exe", "bin", LocalLibPath),
		filepath.Join(root, "sys1"), filepath.Join(root, "sys2"),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}
