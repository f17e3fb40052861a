// Package atomicfile writes files whole or not at all: into a temporary file beside the
// destination, synced and renamed over it once complete, so that a reader, a crash, a full
// disk or Ctrl-C never leaves half a file under the destination's name.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write creates or replaces path with what write puts into the buffered writer it is given.
// On any error the temporary file is removed and path is left as it was. Errors name path,
// not the temporary file the failure happened on.
func Write(path string, write func(w io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return named(path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err = write(w); err != nil {
		return named(path, err)
	}
	if err = w.Flush(); err != nil {
		return named(path, err)
	}
	// CreateTemp makes the file 0600; an output is read by others like any file written.
	if err = f.Chmod(0o644); err != nil {
		return named(path, err)
	}
	if err = f.Sync(); err != nil {
		return named(path, err)
	}
	if err = f.Close(); err != nil {
		return named(path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return named(path, err)
	}
	return nil
}

// WriteFile writes data to path as Write does.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// named names the output, not the temporary file, in err.
func named(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("write %s: %w", path, err)
}
