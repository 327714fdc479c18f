package cotter_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// A net/http server whose /me route needs a valid Cotter access token. (Compiled with the tests; the
// same wiring runs against the emulator in TestMiddlewareAcceptsValidTokensOnly.)
func ExampleMiddleware() {
	v, err := cotter.NewVerifier(cotter.VerifierOptions{
		Audience: os.Getenv("COTTER_API_KEY_ID"),
		JWKSURL:  "https://www.cotter.app/api/v0/token/jwks",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	mux := http.NewServeMux()
	mux.Handle("/me", cotter.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := cotter.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%s)\n", claims.Identifier, claims.Subject)
	})))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

// Refreshing a token set, with a deadline, and telling the failures apart.
func ExampleClient_Refresh() {
	c, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: os.Getenv("COTTER_API_KEY_ID"),
		APISecretKey: os.Getenv("COTTER_API_SECRET_KEY")})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := c.Refresh(ctx, os.Getenv("REFRESH_TOKEN"))
	var e *cotter.Error
	switch {
	case err == nil:
		defer tok.Close()
		fmt.Println("new access token expires at", tok.Info().AccessTokenExpiresAt)
	case errors.Is(err, cotter.ErrReauth):
		fmt.Println("log in again")
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("too slow; try later")
	case errors.As(err, &e):
		fmt.Println("failed:", e.Name, e.HTTPStatus)
	}
}
