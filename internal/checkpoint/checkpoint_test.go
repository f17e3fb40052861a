package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrors checks that a work folder's errors name the folder and the flag
// (quantize uses it too, so they must not say "convert"), and that another run's folder is
// refused with ErrOtherRun.
func TestErrors(t *testing.T) {
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
				if _, err := Open(dir, NewID("a"), false); err != nil {
					t.Fatal(err)
				}
				_, err := Open(dir, NewID("b"), true)
				return err
			},
			want:  []string{"resuming from", "a a run there, b here"},
			other: true,
		},
		{
			name: "damaged state",
			prepare: func(t *testing.T, dir string) error {
				cp, err := Open(dir, NewID("a"), false)
				if err != nil {
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
				_, err := Open(file, NewID("a"), false)
				return err
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
func TestSaved(t *testing.T) {
	dir := t.TempDir()
	if Saved(dir) {
		t.Error("an empty folder holds saved progress")
	}
	cp, err := Open(dir, NewID("a"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Save("generate", struct{ Batches int }{2}); err != nil {
		t.Fatal(err)
	}
	if !Saved(dir) {
		t.Error("a folder with a checkpoint holds no saved progress")
	}
	if err := os.WriteFile(filepath.Join(dir, "mine.gob"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, NewID("a"), false); err != nil {
		t.Fatal(err)
	}
	if Saved(dir) {
		t.Error("Open without resume kept the progress")
	}
	if _, err := os.Stat(filepath.Join(dir, "mine.gob")); err != nil {
		t.Errorf("Open without resume removed a file that is not a run's state: %v", err)
	}
}

// TestKey checks that a key depends on every part and on where one part ends.
func TestKey(t *testing.T) {
	base := Key([]byte("model"), []byte("settings"))
	for _, other := range []string{
		Key([]byte("model"), []byte("settingz")),
		Key([]byte("mode"), []byte("lsettings")),
		Key([]byte("modelsettings")),
		Key([]byte("model"), []byte("settings"), nil),
	} {
		if other == base {
			t.Errorf("two different lists of parts give the key %s", base)
		}
	}
	if Key([]byte("model"), []byte("settings")) != base {
		t.Error("the same parts give different keys")
	}
}

// Settings keys every field but the excepted ones, refuses an exception the struct lacks and
// a keyed field it cannot encode, and encodes the same settings the same way each time.
func TestSettings(t *testing.T) {
	type options struct {
		Bits  int
		Seed  uint64
		Names map[string]int
		Log   func(string)
	}
	o := options{Bits: 4, Seed: 1, Names: map[string]int{"b": 2, "a": 1}, Log: func(string) {}}
	base, err := Settings(o, "Log")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Settings(options{Bits: 4, Seed: 1, Names: map[string]int{"a": 1, "b": 2}}, "Log")
	if string(again) != string(base) {
		t.Errorf("the same settings encode as %s and %s", base, again)
	}
	other, _ := Settings(options{Bits: 4, Seed: 2, Names: o.Names}, "Log")
	if string(other) == string(base) {
		t.Error("another seed encodes as the same settings")
	}
	if excepted, _ := Settings(options{Bits: 4, Seed: 2, Names: o.Names}, "Log", "Seed"); string(excepted) == string(other) {
		t.Error("an excepted field is still keyed")
	}
	if _, err := Settings(o); err == nil {
		t.Error("a keyed function field encoded without an error")
	}
	if _, err := Settings(o, "Log", "Lgo"); err == nil || !strings.Contains(err.Error(), "Lgo") {
		t.Errorf("an exception the struct lacks: %v, want an error naming it", err)
	}
	if _, err := Settings(3); err == nil {
		t.Error("settings of an int encoded without an error")
	}
}

// Peek reads a run's saved states without writing anything: nothing for a folder without a
// run, ErrOtherRun for another run's folder.
func TestPeek(t *testing.T) {
	type state struct{ Blocks int }
	dir := t.TempDir()
	if cp, err := Peek(dir, NewID("a")); cp != nil || err != nil {
		t.Fatalf("Peek of an empty folder: %v, %v; want nothing", cp, err)
	}
	cp, err := Open(dir, NewID("a"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Save("reconstruct", state{Blocks: 3}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	peek, err := Peek(dir, NewID("a"))
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if ok, err := peek.Load("reconstruct", &st); !ok || err != nil || st.Blocks != 3 {
		t.Fatalf("Load: %v, %v, %+v; want the saved state", ok, err, st)
	}
	if _, err := Peek(dir, NewID("b")); !errors.Is(err, ErrOtherRun) {
		t.Fatalf("Peek with another key: %v, want ErrOtherRun", err)
	}
	after, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("Peek changed the folder: %d entries, then %d", len(before), len(after))
	}
}

// A folder of another run says how that run differs, from the run.json it keeps beside the
// key: the fields of settings by their paths, and the parts that are not settings by name.
func TestOtherRunSaysHow(t *testing.T) {
	id := func(model, settings, recon string) *ID {
		t.Helper()
		id, err := NewID("quantize").Add("the model", []byte(model)).AddSettings("", []byte(settings))
		if err == nil {
			_, err = id.AddSettings("Recon", []byte(recon))
		}
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	base := id("m", `{"Seed":3,"Schedule":{"Images":256,"Name":"fast"}}`, `{"Iters":2000}`)
	tests := []struct {
		name  string
		other *ID
		want  string
	}{
		{"seed", id("m", `{"Seed":4,"Schedule":{"Images":256,"Name":"fast"}}`, `{"Iters":2000}`), "(Seed 3 there, 4 here)"},
		{"nested and prefixed", id("m", `{"Seed":3,"Schedule":{"Images":512,"Name":"quick"}}`, `{"Iters":500}`),
			`(Recon.Iters 2000 there, 500 here; Schedule.Images 256 there, 512 here; Schedule.Name "fast" there, "quick" here)`},
		{"model", id("n", `{"Seed":3,"Schedule":{"Images":256,"Name":"fast"}}`, `{"Iters":2000}`), "(the model differs)"},
		{"a field only one run has", id("m", `{"Seed":3,"Schedule":{"Images":256,"Name":"fast"},"Mirror":true}`, `{"Iters":2000}`), "(Mirror unset there, true here)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Open(dir, base, false); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, base, true); err != nil {
				t.Fatalf("resuming the same run: %v", err)
			}
			_, err := Open(dir, tt.other, true)
			if !errors.Is(err, ErrOtherRun) || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("Open: %v, want ErrOtherRun ending %q", err, tt.want)
			}
			if _, perr := Peek(dir, tt.other); perr == nil || !strings.HasSuffix(perr.Error(), tt.want) {
				t.Errorf("Peek: %v, want it to end %q", perr, tt.want)
			}
		})
	}
	// A front end names the settings its own way.
	dir0 := t.TempDir()
	if _, err := Open(dir0, base, false); err != nil {
		t.Fatal(err)
	}
	var other *OtherRunError
	if _, err := Open(dir0, tests[0].other, true); !errors.As(err, &other) || other.How(map[string]string{"Seed": "--seed"}) != "--seed 3 there, 4 here" {
		t.Errorf("Open: %v, want an *OtherRunError whose How names --seed", err)
	}
	// A folder written before run.json existed says what it can.
	dir := t.TempDir()
	if _, err := Open(dir, base, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "run.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, tests[0].other, true); err == nil || !strings.HasSuffix(err.Error(), "(another model or other settings)") {
		t.Errorf("folder without run.json: %v", err)
	}
}
