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
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

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

// ID identifies a run: the Key of its parts, and what they are, so that a folder that holds
// another run can say how that run differs. Build one with NewID and Add its parts in a fixed
// order.
type ID struct {
	parts [][]byte
	desc  description
}

// description is what run.json records of a run: its kind, a digest of each part that is not
// settings, and its settings flattened to one value per field ("Schedule.Images": 256).
type description struct {
	Kind     string            `json:"kind"`
	Digests  map[string]string `json:"digests"`
	Settings map[string]string `json:"settings"`
}

// NewID starts the ID of a run of kind ("convert", "quantize"), itself the first part.
func NewID(kind string) *ID {
	return &ID{parts: [][]byte{[]byte(kind)}, desc: description{Kind: kind, Digests: map[string]string{}, Settings: map[string]string{}}}
}

// Add appends a part that is not settings (a model's bytes, a digest of images); what names
// it in messages ("the model").
func (id *ID) Add(what string, data []byte) *ID {
	id.parts = append(id.parts, data)
	sum := sha256.Sum256(data)
	id.desc.Digests[what] = hex.EncodeToString(sum[:])
	return id
}

// AddSettings appends settings encoded by Settings; messages name their fields after prefix
// ("Recon.Iters" for prefix "Recon", "Seed" for "").
func (id *ID) AddSettings(prefix string, settings []byte) (*ID, error) {
	id.parts = append(id.parts, settings)
	var v any
	if err := json.Unmarshal(settings, &v); err != nil {
		return id, fmt.Errorf("checkpoint: settings %s: %w", prefix, err)
	}
	flatten(id.desc.Settings, prefix, v)
	return id, nil
}

// flatten puts v's leaves into out, each under its path of object keys joined by dots.
func flatten(out map[string]string, path string, v any) {
	if obj, ok := v.(map[string]any); ok && len(obj) > 0 {
		for k, e := range obj {
			if path != "" {
				k = path + "." + k
			}
			flatten(out, k, e)
		}
		return
	}
	b, _ := json.Marshal(v) // v came from json.Unmarshal
	out[path] = string(b)
}

// Key is the digest of id's parts, which run.key holds.
func (id *ID) Key() string { return Key(id.parts...) }

// otherRun returns the error for a folder dir whose run.key is not id's: ErrOtherRun, with how
// its run differs where the folder's run.json says.
func (id *ID) otherRun(verb, dir string) error {
	e := &OtherRunError{Dir: dir, verb: verb}
	if b, err := os.ReadFile(filepath.Join(dir, "run.json")); err == nil {
		var old description
		if json.Unmarshal(b, &old) == nil {
			e.Parts, e.Settings = id.desc.differences(old)
		}
	}
	return e
}

// OtherRunError is the error for a work folder that holds another run; it wraps ErrOtherRun.
// A folder written before sharpq kept run.json has neither Parts nor Settings.
type OtherRunError struct {
	Dir string // the work folder that holds the other run
	// Parts are what differs that is not a setting: "the model", "a convert run there".
	Parts []string
	// Settings are the settings that differ, in the order of their fields' paths.
	Settings []SettingDiff
	verb     string
}

// SettingDiff is one setting of two runs: its field path ("Schedule.Images", "Recon.Seed")
// and its JSON values in the folder's run and in this one ("unset" where a run lacks it).
type SettingDiff struct {
	Field, There, Here string // the field path; its value in the folder's run and in this one
}

// Error says which folder holds another run and how it differs from this one.
func (e *OtherRunError) Error() string {
	return fmt.Sprintf("checkpoint: %s %s: %v (%s)", e.verb, e.Dir, ErrOtherRun, e.How(nil))
}

// How says how the folder's run differs from this one, naming each setting by names[Field]
// where names has it, else by its field path: "Seed 3 there, 4 here; the model differs". At
// most four differences are named; a folder without run.json is "another model or other
// settings".
func (e *OtherRunError) How(names map[string]string) string {
	diffs := slices.Clone(e.Parts)
	for _, d := range e.Settings {
		name := d.Field
		if n, ok := names[name]; ok {
			name = n
		}
		diffs = append(diffs, fmt.Sprintf("%s %s there, %s here", name, d.There, d.Here))
	}
	if len(diffs) == 0 {
		return "another model or other settings"
	}
	if len(diffs) > 4 {
		diffs = append(diffs[:4], fmt.Sprintf("%d more", len(diffs)-4))
	}
	return strings.Join(diffs, "; ")
}

// Unwrap returns ErrOtherRun.
func (e *OtherRunError) Unwrap() error { return ErrOtherRun }

// differences lists how the run d describes differs from old's: the parts that are not
// settings ("the model differs"), then the settings.
func (d description) differences(old description) (parts []string, settings []SettingDiff) {
	if old.Kind != d.Kind {
		parts = append(parts, fmt.Sprintf("a %s run there, %s here", old.Kind, d.Kind))
	}
	for _, what := range slices.Sorted(maps.Keys(d.Digests)) {
		if old.Digests[what] != d.Digests[what] {
			parts = append(parts, what+" differs")
		}
	}
	all := maps.Clone(d.Settings)
	maps.Copy(all, old.Settings)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		was, ok := old.Settings[k]
		now, here := d.Settings[k]
		switch {
		case !ok:
			was = "unset"
		case !here:
			now = "unset"
		}
		if was != now {
			settings = append(settings, SettingDiff{Field: k, There: was, Here: now})
		}
	}
	return parts, settings
}

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

// Open prepares dir for the run id. With resume it checks the folder belongs to this run (a
// folder without a run resumes nothing: the run starts); without, it clears any state a
// previous run left.
func Open(dir string, id *ID, resume bool) (*Folder, error) {
	key := id.Key()
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
			return nil, id.otherRun("resuming from", dir)
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
	desc, err := json.MarshalIndent(id.desc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: work folder %s: %w", dir, err)
	}
	// run.json first: a folder whose run.key is this run's always describes it.
	if err := atomicfile.WriteFile(filepath.Join(dir, "run.json"), desc); err != nil {
		return nil, fmt.Errorf("checkpoint: work folder %s: %w", dir, err)
	}
	if err := atomicfile.WriteFile(keyPath, []byte(key)); err != nil {
		return nil, fmt.Errorf("checkpoint: work folder %s: %w", dir, err)
	}
	return &Folder{dir: dir}, nil
}

// Peek opens dir for reading the progress of the run id, as Open with resume would, but
// writes nothing: a nil Folder (which loads nothing) when dir holds no run, and an error
// wrapping ErrOtherRun when it holds another. An estimate of what a resumed run has left
// reads the folder this way.
func Peek(dir string, id *ID) (*Folder, error) {
	key := id.Key()
	b, err := os.ReadFile(filepath.Join(dir, "run.key"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("checkpoint: reading %s: %w", dir, err)
	case string(b) != key:
		return nil, id.otherRun("reading", dir)
	}
	return &Folder{dir: dir}, nil
}

// Held opens dir for the run it holds, whichever that is, checking and writing nothing: for
// tools and tests that look into or edit a run's progress.
func Held(dir string) *Folder { return &Folder{dir: dir} }

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
