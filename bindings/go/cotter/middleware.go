//go:build cgo

package cotter

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

type claimsKey struct{}

// ClaimsFromContext returns the claims that Middleware verified for this request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// Middleware lets through only requests with a valid Cotter access token (`Authorization: Bearer <jwt>`)
// and puts its claims in the request context (ClaimsFromContext). Others get 401 with an RFC 6750
// challenge naming the stable error code; 503 when the key set cannot be fetched (retryable).
// Verification honours the request's context.
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
				challenge(w, "invalid_request", "missing bearer token")
				return
			}
			claims, err := v.Verify(r.Context(), strings.TrimSpace(token))
			var cerr *Error
			switch {
			case err == nil:
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
			case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
				// The request's context ended while the key set was being fetched: no verdict on the token.
				http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			case errors.Is(err, ErrJWKSUnavailable):
				http.Error(w, "token keys unavailable", http.StatusServiceUnavailable)
			case errors.As(err, &cerr):
				challenge(w, "invalid_token", cerr.Name) // the code name, never the token
			default:
				http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			}
		})
	}
}

func challenge(w http.ResponseWriter, code, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+description+`"`)
	http.Error(w, description, http.StatusUnauthorized)
}
