package convert

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckpointsErrors checks that a work folder's errors name the folder and the flag
// (quantize uses it too, so they must not say "convert"), and that another run's folder is
// refused with ErrOtherRun.
func TestCheckpointsErrors(t *testing.T) {
	type state struct{ Blocks int }
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) error
		want    []string
		other   bool
	}{
		{
			name: "another run",
			prepare: func(t *testing.T, dir string) error {
				if err := (&Checkpoints{Dir: dir, Key: "a"}).Open(false); err != nil {
					t.Fatal(err)
				}
				return (&Checkpoints{Dir: dir, Key: "b"}).Open(true)
			},
			want:  []string{"resuming from", "another model or other settings"},
			other: true,
		},
		{
			name: "damaged state",
			prepare: func(t *testing.T, dir string) error {
				cp := &Checkpoints{Dir: dir, Key: "a"}
				if err := cp.Open(false); err != nil {
					t.Fatal(err)
				}
				if err := cp.Save("reconstruct", state{Blocks: 3}); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, "reconstruct.gob")
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
					t.Fatal(err)
				}
				var s state
				_, err = cp.Load("reconstruct", &s)
				return err
			},
			want: []string{"checkpoint reconstruct in", "is damaged"},
		},
		{
			name: "work folder is a file",
			prepare: func(t *testing.T, dir string) error {
				file := filepath.Join(dir, "file")
				if err := os.WriteFile(file, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				return (&Checkpoints{Dir: file, Key: "a"}).Open(false)
			},
			want: []string{"checkpoint: work folder", "file"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := tc.prepare(t, dir)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append(tc.want, dir) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.HasPrefix(msg, "convert:") {
				t.Errorf("error %q names the convert command", msg)
			}
			if errors.Is(err, ErrOtherRun) != tc.other {
				t.Errorf("errors.Is(%q, ErrOtherRun) = %v, want %v", msg, !tc.other, tc.other)
			}
		})
	}
}

// Saved tells a folder with a run's progress from a new or emptied one, so that a front end
// can warn before Open without resume discards it.
func TestCheckpointsSaved(t *testing.T) {
	dir := t.TempDir()
	cp := &Checkpoints{Dir: dir, Key: "a"}
	if cp.Saved() {
		t.Error("an empty folder holds saved progress")
	}
	if err := cp.Open(false); err != nil {
		t.Fatal(err)
	}
	if err := cp.Save("generate", struct{ Batches int }{2}); err != nil {
		t.Fatal(err)
	}
	if !cp.Saved() {
		t.Error("a folder with a checkpoint holds no saved progress")
	}
	if err := cp.Open(false); err != nil {
		t.Fatal(err)
	}
	if cp.Saved() {
		t.Error("Open without resume kept the progress")
	}
}
