package ort

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sharpq/sharpq/option"
)

// EnvLibPath is the environment variable that names the ONNX Runtime shared
// library when no explicit path is given.
const EnvLibPath = "SHARPQ_ORT_LIB"

// LocalLibPath is where `make ort` installs the shared library, relative to
// the repository root.
const LocalLibPath = ".ort/libonnxruntime.so.1"

// These are variables so that the tests can point the search elsewhere.
var (
	// systemDirs are searched last, in order, for each of systemNames.
	systemDirs = []string{"/usr/lib", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu"}
	// systemNames are the file names looked for in systemDirs.
	systemNames = []string{"libonnxruntime.so", "libonnxruntime.so.1"}
	// executable returns the path of the running program.
	executable = os.Executable
)

// FindLibrary returns the absolute path of the ONNX Runtime shared library
// to load. explicit is Options.LibPath (the sharpq command's --ort-lib); when it is not empty
// it must name an existing file and nothing else is searched. Otherwise the
// SHARPQ_ORT_LIB environment variable, the .ort folder set up by `make ort`
// (looked for in the working directory, the executable's directory, and their
// parents) and the system library folders are tried in that order; see the
// package documentation.
func FindLibrary(explicit string) (string, error) {
	if explicit != "" {
		p, err := checkFile(explicit)
		if err != nil {
			e := option.Errorf("Options.LibPath", "%s %s: %v", explicit, err)
			e.Err = err
			return "", fmt.Errorf("ort: %w", e)
		}
		return p, nil
	}
	if env := os.Getenv(EnvLibPath); env != "" {
		p, err := checkFile(env)
		if err != nil {
			return "", fmt.Errorf("ort: %s=%s: %w", EnvLibPath, env, err)
		}
		return p, nil
	}

	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := executable(); err == nil {
		if abs, err := filepath.Abs(exe); err == nil && (len(starts) == 0 || filepath.Dir(abs) != starts[0]) {
			starts = append(starts, filepath.Dir(abs))
		}
	}
	for _, start := range starts {
		if p, ok := findUp(start, LocalLibPath); ok {
			return p, nil
		}
	}
	for _, dir := range systemDirs {
		for _, name := range systemNames {
			if p, err := checkFile(filepath.Join(dir, name)); err == nil {
				return p, nil
			}
		}
	}

	searched := []string{EnvLibPath + " (unset)"}
	for _, s := range starts {
		searched = append(searched, filepath.Join(s, LocalLibPath)+" and parents")
	}
	for _, dir := range systemDirs {
		searched = append(searched, filepath.Join(dir, "{"+strings.Join(systemNames, ",")+"}"))
	}
	e := option.Errorf("Options.LibPath", "onnxruntime shared library not found (searched %[2]s): "+
		"run `make ort`, or give its path as %[1]s or in %[3]s", strings.Join(searched, ", "), EnvLibPath)
	e.Err = fs.ErrNotExist
	return "", fmt.Errorf("ort: %w", e)
}

// findUp looks for rel in dir and each of its parents, returning the first
// existing regular file.
func findUp(dir, rel string) (string, bool) {
	for {
		if p, err := checkFile(filepath.Join(dir, rel)); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// checkFile returns the absolute form of path if it names a regular file (or
// a symbolic link to one).
func checkFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fs.ErrNotExist // the path is already in the caller's message
		}
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	return abs, nil
}
