package cotter

import (
	"errors"
	"testing"
)

// Every status the library names has a sentinel of the same name, errors.Is matches it by code only,
// errors.As yields the details; and every sentinel is a status the library knows.
func TestEveryStatusHasItsSentinel(t *testing.T) {
	named := 0
	for code := Code(-1); code >= -200; code-- {
		name := StatusName(code)
		s, ok := sentinels[code]
		if name == "COTTER_EUNKNOWN" {
			if ok {
				t.Fatalf("sentinel %s for a code the library does not know (%d)", s.Name, code)
			}
			continue
		}
		named++
		if !ok || s.Name != name || s.Code != code {
			t.Fatalf("code %d (%s): sentinel %+v", code, name, s)
		}
		var err error = &Error{Code: code, Name: name, Message: "m", HTTPStatus: 418}
		if !errors.Is(err, s) || errors.Is(err, &Error{Code: code - 1}) {
			t.Fatalf("errors.Is on %s", name)
		}
		var e *Error
		if !errors.As(err, &e) || e.HTTPStatus != 418 || e.Code.String() != name {
			t.Fatalf("errors.As on %s", name)
		}
		if StatusDescribe(code) == "" {
			t.Fatalf("%s has no description", name)
		}
	}
	if named != len(sentinels) || named < 30 {
		t.Fatalf("%d named codes, %d sentinels", named, len(sentinels))
	}
}
