package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sharpq/sharpq/internal/atomicfile"
)

// Checkpoints is a work folder where a long run saves its progress after every generated
// batch and every reconstructed block, so that a stopped run (Ctrl-C, a crash, a preempted
// machine) can continue (Open with resume) and end exactly as an uninterrupted run would. Its
// errors name the folder, not a command or flag: convert and quantize both use it.
type Checkpoints struct {
	Dir string
	// Key identifies the run (model and every setting that changes the result); a folder
	// holding another run's state is refused on resume.
	Key string
}

// ErrOtherRun is returned (wrapped) when resuming from a folder that holds another run.
var ErrOtherRun = errors.New("the work folder holds another run")

// RunKey fingerprints a run from the model's bytes and a description of its settings.
func RunKey(model []byte, settings string) string {
	h := sha256.New()
	h.Write(model)
	h.Write([]byte{0})
	h.Write([]byte(settings))
	return hex.EncodeToString(h.Sum(nil))
}

// checkpointFiles are the files a run saves its progress in.
var checkpointFiles = []string{"generate.gob", "warmup.gob", "refine-batches.gob", "refine.gob", "reconstruct.gob"}

// Saved reports whether the folder holds progress that a run saved, which Open without
// resume discards: a front end can say so before it happens.
func (c *Checkpoints) Saved() bool {
	for _, name := range checkpointFiles {
		if _, err := os.Stat(filepath.Join(c.Dir, name)); err == nil {
			return true
		}
	}
	return false
}

// Open prepares the folder. With resume it checks the folder belongs to this run; without,
// it clears any state a previous run left.
func (c *Checkpoints) Open(resume bool) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: work folder %s: %w", c.Dir, err)
	}
	keyPath := filepath.Join(c.Dir, "run.key")
	if resume {
		b, err := os.ReadFile(keyPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Nothing to resume: start, as a plain run would.
		case err != nil:
			return fmt.Errorf("checkpoint: resuming from %s: %w", c.Dir, err)
		case string(b) != c.Key:
			return fmt.Errorf("checkpoint: resuming from %s: %w (another model or other settings)", c.Dir, ErrOtherRun)
		}
	} else {
		for _, name := range checkpointFiles {
			if err := os.Remove(filepath.Join(c.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("checkpoint: work folder %s: %w", c.Dir, err)
			}
		}
		if err := os.RemoveAll(filepath.Join(c.Dir, generatorsFolder)); err != nil {
			return fmt.Errorf("checkpoint: work folder %s: %w", c.Dir, err)
		}
	}
	if err := atomicfile.WriteFile(keyPath, []byte(c.Key)); err != nil {
		return fmt.Errorf("checkpoint: work folder %s: %w", c.Dir, err)
	}
	return nil
}

// Save writes v (gob) as the state called name, atomically.
func (c *Checkpoints) Save(name string, v any) error {
	if c == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("checkpoint %s in %s: %w", name, c.Dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(c.Dir, name+".gob"), buf.Bytes()); err != nil {
		return fmt.Errorf("checkpoint %s in %s: %w", name, c.Dir, err)
	}
	return nil
}

// Remove deletes the state called name, if there is one.
func (c *Checkpoints) Remove(name string) error {
	if c == nil {
		return nil
	}
	if err := os.Remove(filepath.Join(c.Dir, name+".gob")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint %s in %s: %w", name, c.Dir, err)
	}
	return nil
}

// Load reads the state called name into v; ok is false when there is none.
func (c *Checkpoints) Load(name string, v any) (ok bool, err error) {
	if c == nil {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(c.Dir, name+".gob"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint %s in %s: %w", name, c.Dir, err)
	}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return false, fmt.Errorf("checkpoint %s in %s is damaged: %w", name, c.Dir, err)
	}
	return true, nil
}
