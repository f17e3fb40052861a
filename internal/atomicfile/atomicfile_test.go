package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	failing := errors.New("the writer failed")
	tests := []struct {
		name    string
		write   func(io.Writer) error
		want    string // the file's content afterwards
		wantErr error
	}{
		{"complete", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, "new", nil},
		{"failed half way", func(w io.Writer) error { io.WriteString(w, "half"); return failing }, "old", failing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.bin")
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Write(path, tt.write)
			if !errors.Is(err, tt.wantErr) || (err != nil && !strings.Contains(err.Error(), path)) {
				t.Fatalf("Write: %v, want %v naming %s", err, tt.wantErr, path)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Errorf("file holds %q, want %q", got, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("%d files in the folder, want only the output", len(entries))
			}
			if fi, err := os.Stat(path); err == nil && tt.wantErr == nil && fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644", fi.Mode().Perm())
			}
		})
	}
}

func TestWriteIntoMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "out.bin")
	err := WriteFile(path, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("WriteFile: %v, want an error naming %s and not the temporary file", err, path)
	}
}
