package cotter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// Every code's sentinel carries the C name, and errors.Is matches on the code alone.
func TestStatusNamesAndSentinels(t *testing.T) {
	sentinels := map[cotter.Code]error{
		cotter.CodeInvalid: cotter.ErrInvalid, cotter.CodeReauth: cotter.ErrReauth,
		cotter.CodeJWTExpired: cotter.ErrJWTExpired, cotter.CodeJWTSignature: cotter.ErrJWTSignature,
		cotter.CodeLegacyClaim: cotter.ErrLegacyClaim,
	}
	for code, sentinel := range sentinels {
		name := cotter.StatusName(code)
		if !strings.HasPrefix(name, "COTTER_E") || name == "COTTER_EUNKNOWN" {
			t.Fatalf("code %d has name %q", code, name)
		}
		if sentinel.(*cotter.Error).Name != name {
			t.Fatalf("sentinel of %s is named %q", name, sentinel.(*cotter.Error).Name)
		}
		err := error(&cotter.Error{Code: code, Name: name, Message: "x"})
		if !errors.Is(err, sentinel) {
			t.Fatalf("errors.Is(%s) false", name)
		}
		if errors.Is(err, cotter.ErrInternal) {
			t.Fatalf("errors.Is(%s, ErrInternal) true", name)
		}
	}
	if cotter.StatusName(-999) != "COTTER_EUNKNOWN" || cotter.StatusName(cotter.CodeOK) != "COTTER_OK" {
		t.Fatal("status names of OK / unknown")
	}
	if cotter.StatusDescribe(cotter.CodeJWTExpired) == "unknown status" {
		t.Fatal("no description for COTTER_EJWT_EXPIRED")
	}
}

func TestVersion(t *testing.T) {
	v := cotter.Version()
	n := cotter.VersionNumber()
	if want := strings.Join([]string{itoa(n / 10000), itoa(n / 100 % 100), itoa(n % 100)}, "."); v != want {
		t.Fatalf("Version() = %q, VersionNumber() = %d", v, n)
	}
	if err := cotter.GlobalInit(); err != nil {
		t.Fatal(err)
	}
	cotter.GlobalShutdown()
}

func asError(err error, target **cotter.Error) bool { return errors.As(err, target) }
func isError(err, target error) bool                { return errors.Is(err, target) }

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
