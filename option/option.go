// Package option reports settings of sharpq's library packages that cannot be used, naming
// each by its Go name (Bits.Weight in quantizer, Preprocess.Std in calib), so that a library user
// reads the field they set and a front end can show its own name for it: the sharpq command
// shows its flag (--wbits, --eval-std).
package option

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a setting whose value cannot be used.
type Error struct {
	// Name is the setting as the library's API spells it, e.g. "Preprocess.Std".
	Name string
	// Text is the whole message; it names the setting by Name, once or more (a hint).
	Text string
	// Err, when set, is why what the setting names could not be used (a file that is missing
	// or unreadable): the value itself may be fine, so a front end can tell a failure from a
	// bad setting. Nil for a value that cannot be used whatever the files hold.
	Err error
}

// Error returns the message, which names the setting.
func (e *Error) Error() string { return e.Text }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error about the setting name. The format's first verb prints name
// (write %[1]s to name it again); args are the format's further arguments.
func Errorf(name, format string, args ...any) *Error {
	return &Error{Name: name, Text: fmt.Sprintf(format, append([]any{name}, args...)...)}
}

// Names maps a setting's Name to a front end's name for it, e.g. "--wbits".
type Names map[string]string

// Rename returns err with the setting of the first *Error in its chain called by its name in
// names wherever that error's text names it, and err itself when there is no such *Error or
// names has no entry for it. A name that begins with "-" is a command-line flag, and the text's
// "Name = value" reads as the command line spells it: "--wbits 9", or "--layer-bits conv1=3"
// where the name already holds the flag's argument. An error renamed before is renamed from the name it has now, so
// a library that calls another can rename the other's settings to its own and a front end
// those to its flags. The result still unwraps to err, so errors.Is sees through it, and
// errors.As finds an *Error under the new name: a caller of the library that renamed reads
// its own API's name, not the inner library's.
func (names Names) Rename(err error) error {
	name, text, ok := setting(err)
	if !ok {
		return err
	}
	to, ok := names[name]
	if !ok {
		return err
	}
	newText := text
	if strings.HasPrefix(to, "-") {
		// A flag takes its value as a command line does: "--wbits 9", "--layer-bits conv1=3".
		sep := " "
		if strings.Contains(to, " ") {
			sep = "="
		}
		newText = strings.ReplaceAll(newText, name+" = ", to+sep)
	}
	newText = strings.ReplaceAll(newText, name, to)
	return &renamed{msg: strings.Replace(err.Error(), text, newText, 1), name: to, text: newText, cause: cause(err), err: err}
}

// cause returns the Err of the first *Error in err's chain.
func cause(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Err
	}
	return nil
}

// setting returns the name of the setting err is about and the text that names it.
func setting(err error) (name, text string, ok bool) {
	var r *renamed
	if errors.As(err, &r) {
		return r.name, r.text, true
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Name, e.Text, true
	}
	return "", "", false
}

// renamed is an error shown with another name, name, for its setting; text is the setting's
// part of msg.
type renamed struct {
	msg, name, text string
	cause, err      error
}

func (r *renamed) Error() string { return r.msg }
func (r *renamed) Unwrap() error { return r.err }

// As makes errors.As stop at the renamed setting, so that the name it returns is the one the
// text shows.
func (r *renamed) As(target any) bool {
	e, ok := target.(**Error)
	if ok {
		*e = &Error{Name: r.name, Text: r.text, Err: r.cause}
	}
	return ok
}
