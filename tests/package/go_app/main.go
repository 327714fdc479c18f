// A new Go module using the cotter package from outside the repository (scripts/test-package.sh): prints
// the library version, verifies a token against a JWKS URL and prints its subject.
// Usage: app JWKS_URL AUDIENCE TOKEN
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: app JWKS_URL AUDIENCE TOKEN")
		os.Exit(2)
	}
	fmt.Println("cotter", cotter.Version())
	v, err := cotter.NewVerifier(cotter.VerifierOptions{JWKSURL: os.Args[1], Audience: os.Args[2]})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	defer v.Close()
	claims, err := v.Verify(context.Background(), os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Println("sub", claims.Subject)
}
