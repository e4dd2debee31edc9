package harness

import (
	"errors"
	"fmt"
)

// Class says who has to act on an error, and so the exit status cmd maps it
// to: bad input is the user's to fix (2), a target failure is the
// environment's (3).
type Class int

// Error classes.
const (
	ClassNone Class = iota
	ClassBadInput
	ClassTarget
)

// Error is the one user-facing error type: an error with its class.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// BadInput returns an error of class ClassBadInput.
func BadInput(format string, args ...any) error {
	return &Error{Class: ClassBadInput, Err: fmt.Errorf(format, args...)}
}

// TargetFailure wraps err as an error of class ClassTarget.
func TargetFailure(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Class: ClassTarget, Err: err}
}

// ClassOf returns the class of err: the class of the first *Error in its
// chain, or ClassTarget for any other non-nil error (the harness could not
// run), or ClassNone for nil.
func ClassOf(err error) Class {
	if err == nil {
		return ClassNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassTarget
}
