// Package checkpoint keeps a long run's progress in a work folder: one gob file per named
// state, written atomically, and a key that says which run the folder belongs to, so that a
// stopped run (Ctrl-C, a crash, a preempted machine) can continue and end exactly as an
// uninterrupted run would. Its errors name the folder, not a command or a flag: convert and
// quantize both use it.
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/sharpq/sharpq/internal/atomicfile"
)

// ErrOtherRun is returned (wrapped) when resuming from a folder that holds another run.
var ErrOtherRun = errors.New("the work folder holds another run")

// states are the names of every state a sharpq run saves. A fresh run removes these files
// and the Scratch folder, and nothing else: the folder may be one the user keeps other
// things in.
var states = []string{"generate", "warmup", "refine-batches", "refine", "reconstruct"}

// Scratch is the work folder's subfolder for large intermediate files (SADAG's generators)
// that a run removes itself once they are used.
const Scratch = "generators"

// Key fingerprints a run from its parts (the model's bytes, a canonical encoding of its
// settings, its images…); parts are length-prefixed, so no two lists give the same key.
func Key(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Settings encodes the fields of options, a struct, for a Key: every field except those
// named in except, which must be ones that do not change what the run computes (logging,
// hooks, the device). A field added later is keyed unless it is named here, so a work folder
// is never resumed under a setting the key does not know. Names in except that options lacks
// are an error, as is a keyed field JSON cannot encode (a function).
func Settings(options any, except ...string) ([]byte, error) {
	v := reflect.ValueOf(options)
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("checkpoint: settings of a %s, want a struct", v.Kind())
	}
	keyed := map[string]any{}
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if !slices.Contains(except, name) {
			keyed[name] = v.Field(i).Interface()
		}
	}
	for _, name := range except {
		if _, ok := v.Type().FieldByName(name); !ok {
			return nil, fmt.Errorf("checkpoint: settings: %s has no field %s", v.Type(), name)
		}
	}
	b, err := json.Marshal(keyed) // maps encode in key order
	if err != nil {
		return nil, fmt.Errorf("checkpoint: settings of %s: %w", v.Type(), err)
	}
	return b, nil
}

// Saved reports whether dir holds progress that a run saved, which Open without resume
// discards: a front end can say so before it happens.
func Saved(dir string) bool {
	for _, name := range states {
		if _, err := os.Stat(filepath.Join(dir, name+".gob")); err == nil {
			return true
		}
	}
	return false
}

// Folder is an open work folder.
type Folder struct {
	dir string
}

// Open prepares dir for the run identified by key. With resume it checks the folder
// belongs to this run (a folder without a run resumes nothing: the run starts); without, it
// clears any state a previous run left.
func Open(dir, key string, resume bool) (*Folder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: work folder %s: %w", dir, err)
	}
	keyPath := filepath.Join(dir, "run.key")
	if resume {
		b, err := os.ReadFile(keyPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("checkpoint: resuming from %s: %w", dir, err)
		case string(b) != key:
			return nil, fmt.Errorf("checkpoint: resuming from %s: %w (another model or other settings)", dir, ErrOtherRun)
		}
	} else {
		for _, name := range states {
			if err := os.Remove(filepath.Join(dir, name+".gob")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("checkpoint: work folder %s: %w", dir, err)
			}
		}
		if err := os.RemoveAll(filepath.Join(dir, Scratch)); err != nil {
			return nil, fmt.Errorf("checkpoint: work folder %s: %w", dir, err)
		}
	}
	if err := atomicfile.WriteFile(keyPath, []byte(key)); err != nil {
		return nil, fmt.Errorf("checkpoint: work folder %s: %w", dir, err)
	}
	return &Folder{dir: dir}, nil
}

// Peek opens dir for reading the progress of the run identified by key, as Open with resume
// would, but writes nothing: a nil Folder (which loads nothing) when dir holds no run, and an
// error wrapping ErrOtherRun when it holds another. An estimate of what a resumed run has left
// reads the folder this way.
func Peek(dir, key string) (*Folder, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run.key"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("checkpoint: reading %s: %w", dir, err)
	case string(b) != key:
		return nil, fmt.Errorf("checkpoint: reading %s: %w (another model or other settings)", dir, ErrOtherRun)
	}
	return &Folder{dir: dir}, nil
}

// Dir is the folder's path.
func (f *Folder) Dir() string { return f.dir }

// Save writes v (gob) as the state called name, atomically. A nil Folder saves nothing.
func (f *Folder) Save(name string, v any) error {
	if f == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("checkpoint %s in %s: %w", name, f.dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(f.dir, name+".gob"), buf.Bytes()); err != nil {
		return fmt.Errorf("checkpoint %s in %s: %w", name, f.dir, err)
	}
	return nil
}

// Remove deletes the state called name, if there is one.
func (f *Folder) Remove(name string) error {
	if f == nil {
		return nil
	}
	if err := os.Remove(filepath.Join(f.dir, name+".gob")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint %s in %s: %w", name, f.dir, err)
	}
	return nil
}

// Load reads the state called name into v; ok is false when there is none (always, for a
// nil Folder).
func (f *Folder) Load(name string, v any) (ok bool, err error) {
	if f == nil {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(f.dir, name+".gob"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint %s in %s: %w", name, f.dir, err)
	}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return false, fmt.Errorf("checkpoint %s in %s is damaged: %w", name, f.dir, err)
	}
	return true, nil
}
