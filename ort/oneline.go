package ort

import "strings"

// oneLine wraps err so that its message fits on one line (ONNX Runtime
// messages sometimes span several), keeping err in the chain for errors.Is
// and errors.As.
func oneLine(err error) error {
	if err == nil || !strings.ContainsAny(err.Error(), "\r\n") {
		return err
	}
	return &oneLineError{err: err}
}

type oneLineError struct{ err error }

func (e *oneLineError) Error() string {
	return strings.Join(strings.Fields(e.err.Error()), " ")
}

func (e *oneLineError) Unwrap() error { return e.err }
