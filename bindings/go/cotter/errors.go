package cotter

// #include <cotter.h>
import "C"

import (
	"fmt"
	"time"
)

// Code is a cotter_status value: 0 for success, negative for errors (pinned, append-only).
type Code int

// String is the stable C name of the code.
func (c Code) String() string { return StatusName(c) }

// Error is a failed call: the status Code and its Name, the library's Message, and for API errors the
// HTTP status and the server's error fields. Messages never contain secrets or tokens.
//
// errors.Is(err, cotter.ErrX) compares codes; errors.As(err, &e) gives the details.
type Error struct {
	Code                  Code
	Name                  string
	Message               string
	HTTPStatus            int           // 0 when no response was involved
	OAuthError            string        // RFC 6749 `error`, or Cotter's `type`
	OAuthErrorDescription string        // Cotter's `msg`, or RFC 6749 `error_description`
	RetryAfter            time.Duration // -1 when the response had none

	context error // context.Canceled or context.DeadlineExceeded when the call ended because of its context
}

func (e *Error) Error() string {
	msg := e.Name
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	return msg
}

// Unwrap gives the context's error when the call ended because its context was cancelled (Code ECANCELED)
// or its deadline passed (Code ETIMEOUT): errors.Is(err, context.Canceled) holds then.
func (e *Error) Unwrap() error { return e.context }

// Is makes errors.Is(err, cotter.ErrJWTExpired) true for every error with that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// errorFromC copies and frees a C error object (err may be NULL: then only the code is known).
func errorFromC(rc C.int, err *C.cotter_error) error {
	if err == nil {
		return errorFromCode(Code(rc))
	}
	defer C.cotter_error_free(err)
	e := &Error{
		Code:                  Code(rc),
		Name:                  StatusName(Code(rc)),
		Message:               goString(C.cotter_error_message(err)),
		HTTPStatus:            int(C.cotter_error_http_status(err)),
		OAuthError:            goString(C.cotter_error_oauth_error(err)),
		OAuthErrorDescription: goString(C.cotter_error_oauth_error_description(err)),
		RetryAfter:            -1,
	}
	if ra := int64(C.cotter_error_retry_after(err)); ra >= 0 {
		e.RetryAfter = time.Duration(ra) * time.Second
	}
	if c := Code(C.cotter_error_code(err)); c != e.Code {
		e.Message += fmt.Sprintf(" [error object code %d differs from status %d]", c, e.Code)
	}
	return e
}

func errorFromCode(c Code) error {
	return &Error{Code: c, Name: StatusName(c), Message: StatusDescribe(c), RetryAfter: -1}
}

// check turns a status and its error object into a Go error (nil on success).
func check(rc C.int, err *C.cotter_error) error {
	if rc == C.COTTER_OK {
		if err != nil {
			C.cotter_error_free(err)
		}
		return nil
	}
	return errorFromC(rc, err)
}

// codeOf is the status code of an error of this package (CodeInternal for any other error).
func codeOf(err error) Code {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return CodeInternal
}
