package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"

	"github.com/sharpq/sharpq/option"
)

// Device names accepted in Options.Device (and by the --device flag).
const (
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"
)

// Options configures Open.
type Options struct {
	// LibPath is an explicit path to the ONNX Runtime shared library (the
	// --ort-lib flag). When empty, FindLibrary searches for it.
	LibPath string
	// Device is the execution provider for sessions: "cpu" (the default when
	// empty) or "cuda".
	Device string
	// Threads is the number of intra-op threads per session; 0 lets ONNX
	// Runtime choose.
	Threads int
	// CUDADeviceID selects the GPU when Device is "cuda".
	CUDADeviceID int
}

// The process-wide ONNX Runtime environment.
//
// onnxruntime_go keeps the loaded library and its OrtEnv in package-level
// variables: InitializeEnvironment fails if called twice, and
// DestroyEnvironment unloads the library out from under every live session.
// These globals therefore mirror that single environment: env.refs counts the
// open Runtimes sharing it, so the first Open loads the library and the last
// Close unloads it, and env.lib remembers which file was loaded, because a
// process cannot have two different libraries loaded at once.
var env struct {
	mu   sync.Mutex
	refs int
	lib  string
}

// Runtime is an open handle on the ONNX Runtime environment together with
// the execution settings (device, threads) applied to the sessions it
// creates. Runtimes are safe for concurrent use; several may be open at once
// as long as they use the same library.
type Runtime struct {
	lib     string
	device  string
	threads int
	cudaID  int

	// life guards closed: NewSession holds it for reading while it builds a
	// session, so Close cannot unload the library underneath it.
	life   sync.RWMutex
	closed bool

	mu       sync.Mutex // guards sessions
	sessions map[*Session]struct{}
}

// Open loads the ONNX Runtime library (see FindLibrary) if this process has
// not already loaded it, and returns a Runtime configured by opts. Opening a
// different library while another Runtime is still open is an error. Loading
// sets ORT_DISABLE_TELEMETRY and ORT_TELEMETRY_DISABLED to 1 in the process's
// environment unless the user set them, so that ONNX Runtime uploads nothing
// and leaves no files behind. The caller must Close the Runtime.
func Open(opts Options) (*Runtime, error) {
	device := opts.Device
	switch device {
	case "":
		device = DeviceCPU
	case DeviceCPU, DeviceCUDA:
	default:
		return nil, fmt.Errorf("ort: %w", option.Errorf("Options.Device", "%s = %q: want %q or %q", opts.Device, DeviceCPU, DeviceCUDA))
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("ort: %w", option.Errorf("Options.Threads", "%s = %d: want 0 (one per core) or more", opts.Threads))
	}
	if opts.CUDADeviceID < 0 {
		return nil, fmt.Errorf("ort: CUDA device id must be >= 0, got %d", opts.CUDADeviceID)
	}
	lib, err := FindLibrary(opts.LibPath)
	if err != nil {
		return nil, err
	}
	given := lib // named in errors: the user knows this path, not where its links lead
	if resolved, err := filepath.EvalSymlinks(lib); err == nil {
		lib = resolved
	}

	env.mu.Lock()
	defer env.mu.Unlock()
	if env.refs > 0 {
		if env.lib != lib {
			return nil, fmt.Errorf("ort: onnxruntime is already loaded from %s; cannot also load %s "+
				"(close every Runtime first)", env.lib, lib)
		}
	} else {
		onnxruntime.SetSharedLibraryPath(lib)
		optOutOfTelemetry()
		if err := onnxruntime.InitializeEnvironment(); err != nil {
			// The binding's message can end in an empty dlerror ("…in FILE:"): say what it means.
			if strings.Contains(err.Error(), "OrtGetApiBase") {
				return nil, fmt.Errorf("ort: load %s: not an ONNX Runtime library (it has no OrtGetApiBase)", given)
			}
			return nil, fmt.Errorf("ort: load %s: %w", given, err)
		}
		// The environment variables stop everything in the builds that read them; this stops
		// the events of those that do not.
		if err := onnxruntime.DisableTelemetry(); err != nil {
			onnxruntime.DestroyEnvironment()
			return nil, fmt.Errorf("ort: load %s: turning telemetry off: %w", lib, err)
		}
		env.lib = lib
	}
	env.refs++
	return &Runtime{
		lib:      lib,
		device:   device,
		threads:  opts.Threads,
		cudaID:   opts.CUDADeviceID,
		sessions: make(map[*Session]struct{}),
	}, nil
}

// Threads returns the intra-op thread count of sessions: the Options' count, or the number
// of CPUs when that was 0 (ONNX Runtime's default).
func (r *Runtime) Threads() int {
	if r.threads > 0 {
		return r.threads
	}
	return runtime.NumCPU()
}

// Device returns the execution provider sessions use: "cpu" or "cuda".
func (r *Runtime) Device() string { return r.device }

// LibPath returns the absolute path of the loaded ONNX Runtime library.
func (r *Runtime) LibPath() string { return r.lib }

// Version returns the version string of the loaded ONNX Runtime library.
func (r *Runtime) Version() string {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.refs == 0 {
		return ""
	}
	return onnxruntime.GetVersion()
}

// Close closes every session still open on r and releases r's reference to
// the ONNX Runtime environment, unloading the library when no other Runtime
// uses it. Closing an already closed Runtime does nothing.
func (r *Runtime) Close() error {
	r.life.Lock()
	if r.closed {
		r.life.Unlock()
		return nil
	}
	r.closed = true
	r.life.Unlock()

	r.mu.Lock()
	open := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		open = append(open, s)
	}
	r.mu.Unlock()

	var errs []error
	for _, s := range open {
		errs = append(errs, s.Close())
	}

	env.mu.Lock()
	defer env.mu.Unlock()
	env.refs--
	if env.refs == 0 {
		env.lib = ""
		if err := onnxruntime.DestroyEnvironment(); err != nil {
			errs = append(errs, fmt.Errorf("ort: destroy environment: %w", err))
		}
	}
	return errors.Join(errs...)
}

// telemetryOptOuts are the environment variables with which ONNX Runtime's Linux builds (1.29
// and later, which ship Microsoft's 1DS telemetry) turn it off before it starts: with it on,
// every process that loads the library tries to upload usage events and leaves a session
// file and a debug log (mat-debug-PID.log) in the temporary folder, one per run. The C API's
// DisableTelemetryEvents comes too late for that: it needs the environment already created.
var telemetryOptOuts = []string{"ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED"}

// optOutOfTelemetry sets the opt-out variables the user has not set (one set to 0 keeps
// telemetry on). With cgo, os.Setenv reaches the C library's environment, which ONNX Runtime
// reads.
func optOutOfTelemetry() {
	for _, v := range telemetryOptOuts {
		if _, set := os.LookupEnv(v); !set {
			os.Setenv(v, "1")
		}
	}
}
