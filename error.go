package lethe

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an Error. Each code maps to exactly one HTTP status (in
// package http) and one CLI exit code (in cmd/lethe).
type Code string

// Error codes.
const (
	EINVALID      Code = "invalid"      // the input is wrong; the message says how to fix it
	ENOTFOUND     Code = "not_found"    // the thing asked for does not exist
	ECONFLICT     Code = "conflict"     // the request conflicts with the current state
	EUNAUTHORIZED Code = "unauthorized" // no or unknown credentials
	EFORBIDDEN    Code = "forbidden"    // credentials lack the scope needed
	ETOOLARGE     Code = "too_large"    // the input exceeds a limit
	EUNAVAILABLE  Code = "unavailable"  // a dependency (database, secret) cannot be reached
	ESHREDDED     Code = "shredded"     // the subject's key was destroyed; the data is gone for good
	ERATELIMITED  Code = "rate_limited" // too many calls in a while; retry after the time given
	EINTERNAL     Code = "internal"     // a bug or an unexpected failure; details are logged, not shown
)

// FieldError names one offending input field: a path in the API body or the
// config file (purposes[2].lawful_basis), the YAML line when known, and what
// is wrong with it.
type FieldError struct {
	Path    string `json:"path"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (f FieldError) String() string {
	switch {
	case f.Path == "" && f.Line == 0:
		return f.Message
	case f.Line == 0:
		return f.Path + ": " + f.Message
	case f.Path == "":
		return fmt.Sprintf("line %d: %s", f.Line, f.Message)
	default:
		return fmt.Sprintf("%s: line %d: %s", f.Path, f.Line, f.Message)
	}
}

// Error is Lethe's coded error. Message is written for people: what was
// wrong and how to fix it. It never holds personal data, DSNs or secrets.
type Error struct {
	Code    Code
	Message string
	// Fields lists the offending inputs, when the error is about input.
	Fields []FieldError
	// Err is the underlying cause, kept for logs and errors.Is; it is not
	// shown to API clients.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Message == "" && len(e.Fields) == 0 {
		b.WriteString(string(e.Code))
	}
	for i, f := range e.Fields {
		if i > 0 || e.Message != "" {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about one input field.
func FieldErrorf(path, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Fields: []FieldError{{Path: path, Message: fmt.Sprintf(format, args...)}}}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain
// (with its fields), or a generic message for an error that is not coded,
// whose text may hold details that must not reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		msg := e.Message
		for i, f := range e.Fields {
			if i > 0 || msg != "" {
				msg += "; "
			}
			msg += f.String()
		}
		return msg
	}
	return "internal error"
}

// ErrorFields returns the field errors of the first *Error in err's chain.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
