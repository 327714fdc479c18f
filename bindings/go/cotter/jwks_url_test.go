package cotter_test

import (
	"testing"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// Client.JWKSURL is the library's rule (cotter_jwks_url): BaseURL without trailing slashes + "/token/jwks".
func TestClientJWKSURLIsTheLibraryRule(t *testing.T) {
	c, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: "key", BaseURL: "http://127.0.0.1:9/api/v0//"})
	if err != nil {
		t.Fatal(err)
	}
	url, err := c.JWKSURL()
	if err != nil || url != "http://127.0.0.1:9/api/v0/token/jwks" {
		t.Fatalf("JWKSURL() = %q, %v", url, err)
	}
	c.Close()
	if _, err := c.JWKSURL(); err == nil {
		t.Fatal("JWKSURL on a closed client succeeded")
	}
}
