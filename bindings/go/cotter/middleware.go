//go:build cgo

package cotter

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

type claimsKey struct{}

// ClaimsFromContext returns the claims that the middleware verified for this request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// MiddlewareOptions is the policy of NewMiddleware. The zero value requires a Cotter access token.
type MiddlewareOptions struct {
	// Realm of the WWW-Authenticate challenges; "" means "api".
	Realm string
	// TokenTypes are the accepted `type` claims; {"*"} accepts any token. nil: Cotter's access tokens only
	// (`type` client_access_token or access_token, or no `type` and `access` in `scope`), so an ID token is rejected.
	TokenTypes []string
	// RequiredScopes must all be in the token's `scope`; otherwise 403 insufficient_scope.
	RequiredScopes []string
	// ClaimCheck, if set, must return true for the verified claims; otherwise 401 invalid_token "claim check failed".
	ClaimCheck func(*Claims) bool
	// AuthOptional lets requests without credentials through, without claims (express's authRequired: false).
	// A request with a bad token still fails.
	AuthOptional bool
	// ErrorHandler answers failures; nil: WriteAuthError. err is an *AuthError for the client's failures (401, 400,
	// 403, and 503 while keys cannot be fetched).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err *AuthError)
	// RetryAfterSeconds is the Retry-After of the 503 answered while keys cannot be fetched; 0 means 10.
	RetryAfterSeconds int
}

// AuthError is a request the middleware refused (RFC 6750 §3), as express-oauth2-jwt-bearer's UnauthorizedError.
type AuthError struct {
	Status          int      // 401, 400, 403, or 503 (keys unavailable)
	Code            string   // invalid_request, invalid_token, insufficient_scope; "" when no credentials were sent; temporarily_unavailable for 503
	Description     string   // error_description: the stable code name of a rejected token, never the token
	WWWAuthenticate string   // the challenge ("" for 503)
	Scopes          []string // the required scopes of insufficient_scope
	RetryAfter      int      // seconds, for 503
	Err             error    // the *Error of a rejected token, or the context's error
}

func (e *AuthError) Error() string {
	if e.Code == "" {
		return "cotter: unauthorized: " + e.Description
	}
	return "cotter: " + e.Code + ": " + e.Description
}

func (e *AuthError) Unwrap() error { return e.Err }

// WriteAuthError is the default ErrorHandler: the status, WWW-Authenticate (or Retry-After), Cache-Control no-store
// and a JSON body {"error", "error_description"} ("error" left out when no credentials were sent).
func WriteAuthError(w http.ResponseWriter, _ *http.Request, err *AuthError) {
	h := w.Header()
	if err.WWWAuthenticate != "" {
		h.Set("WWW-Authenticate", err.WWWAuthenticate)
	}
	if err.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(err.RetryAfter))
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(err.Status)
	body := map[string]string{"error_description": err.Description}
	if err.Code != "" {
		body["error"] = err.Code
	}
	_ = json.NewEncoder(w).Encode(body)
}

// Validate reports options NewMiddleware refuses, with the sentences of Node's requireAuth: RequiredScopes and
// TokenTypes must be lists of words (each non-empty, without whitespace, '"' or '\\', which a scope="..." challenge
// could not carry), RetryAfterSeconds must not be negative. The error is an *Error with Code CodeInvalid.
func (o MiddlewareOptions) Validate() error {
	invalid := func(message string) error {
		return &Error{Code: CodeInvalid, Name: "COTTER_EINVAL", Message: "NewMiddleware: " + message, RetryAfter: -1}
	}
	for _, list := range []struct {
		name  string
		words []string
	}{{"RequiredScopes", o.RequiredScopes}, {"TokenTypes", o.TokenTypes}} {
		for _, w := range list.words {
			if w == "" || strings.ContainsFunc(w, unicode.IsSpace) || strings.ContainsAny(w, `"\`) {
				return invalid(list.name + " must be a list of words")
			}
		}
	}
	if o.RetryAfterSeconds < 0 {
		return invalid("RetryAfterSeconds must be a non-negative integer")
	}
	return nil
}

// Middleware requires a valid Cotter access token: NewMiddleware(v, MiddlewareOptions{}).
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return NewMiddleware(v, MiddlewareOptions{})
}

var (
	// RFC 7235 §2.1: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
	credentialsRE = regexp.MustCompile("^([!#$%&'*+\\-.^_`|~0-9A-Za-z]+)(?: +(.*))?$")
	// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	b64tokenRE       = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)
	accessTokenTypes = []string{"client_access_token", "access_token"}
)

// NewMiddleware lets through requests with a valid token that passes the policy of opts, with its claims in the
// request context (ClaimsFromContext). The answers follow RFC 6750 §3 and are the same as the Node and Rust
// middleware's (tests/fixtures/middleware/cases.json): 401 `Bearer realm="api"` without credentials, 400
// invalid_request for a malformed Authorization header, 401 invalid_token for a rejected token (the code name as
// error_description), 403 insufficient_scope with scope="..." for a missing scope, and 503 with Retry-After while the
// key set cannot be fetched. Verification honours the request's context.
//
// Options that cannot be right (see MiddlewareOptions.Validate) panic here, when the handler is built, as
// http.ServeMux.Handle panics on a bad pattern: a policy that could never match must not be served.
func NewMiddleware(v *Verifier, opts MiddlewareOptions) func(http.Handler) http.Handler {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	realm := opts.Realm
	if realm == "" {
		realm = "api"
	}
	retry := opts.RetryAfterSeconds
	if retry <= 0 {
		retry = 10
	}
	onError := opts.ErrorHandler
	if onError == nil {
		onError = WriteAuthError
	}
	scopes := slices.Clone(opts.RequiredScopes)
	types := slices.Clone(opts.TokenTypes)
	fail := func(status int, code, description string, scopes []string, cause error) *AuthError {
		return &AuthError{Status: status, Code: code, Description: description, Scopes: scopes, Err: cause,
			WWWAuthenticate: bearerChallenge(realm, code, description, scopes)}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, missing, malformed := bearerToken(r.Header.Values("Authorization"))
			switch {
			case missing && opts.AuthOptional:
				next.ServeHTTP(w, r)
				return
			case missing:
				onError(w, r, fail(http.StatusUnauthorized, "", "Unauthorized", nil, nil))
				return
			case malformed != "":
				onError(w, r, fail(http.StatusBadRequest, "invalid_request", malformed, nil, nil))
				return
			}
			claims, err := v.Verify(r.Context(), token)
			var cerr *Error
			switch {
			case err == nil:
			case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
				// The request's context ended while the key set was being fetched: no verdict on the token.
				onError(w, r, &AuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
					Description: "request ended", RetryAfter: retry, Err: err})
				return
			case errors.As(err, &cerr) && strings.HasPrefix(cerr.Name, "COTTER_EJWKS_"):
				onError(w, r, &AuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
					Description: cerr.Name, RetryAfter: retry, Err: err})
				return
			case errors.As(err, &cerr) && strings.HasPrefix(cerr.Name, "COTTER_EJWT_"):
				onError(w, r, fail(http.StatusUnauthorized, "invalid_token", cerr.Name, nil, err)) // the code name, never the token
				return
			default:
				// Not the client's fault (out of memory, a closed verifier): a bare 500, as for a panic.
				http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
				return
			}
			// Invalid before insufficient: a token of the wrong kind, or failing the check, is not valid here at all.
			if !tokenTypeAccepted(claims, types) {
				onError(w, r, fail(http.StatusUnauthorized, "invalid_token", "token type not accepted", nil, nil))
				return
			}
			if opts.ClaimCheck != nil && !opts.ClaimCheck(claims) {
				onError(w, r, fail(http.StatusUnauthorized, "invalid_token", "claim check failed", nil, nil))
				return
			}
			have := scopeWords(claims.Scope)
			for _, s := range scopes {
				if !slices.Contains(have, s) {
					onError(w, r, fail(http.StatusForbidden, "insufficient_scope", "insufficient scope", scopes, nil))
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
		})
	}
}

// bearerToken parses the Authorization header lines: the token, or missing (no Bearer credentials: no header, an
// empty one, another scheme), or the description of a malformed header.
func bearerToken(lines []string) (token string, missing bool, malformed string) {
	switch {
	case len(lines) > 1:
		return "", false, "more than one Authorization header"
	case len(lines) == 0 || strings.TrimSpace(lines[0]) == "":
		return "", true, ""
	}
	m := credentialsRE.FindStringSubmatch(strings.TrimSpace(lines[0]))
	switch {
	case m == nil:
		return "", false, "malformed Authorization header"
	case !strings.EqualFold(m[1], "bearer"):
		return "", true, ""
	case m[2] == "":
		return "", false, "empty bearer token"
	case !b64tokenRE.MatchString(m[2]):
		return "", false, "malformed bearer token"
	}
	return m[2], false, ""
}

// scopeWords splits the scope claim on spaces (a claim that is not a string reads as "" and grants nothing).
func scopeWords(scope string) []string {
	var words []string
	for _, w := range strings.Split(scope, " ") {
		if w != "" {
			words = append(words, w)
		}
	}
	return words
}

// tokenTypeAccepted applies TokenTypes, or by default Cotter's access tokens only.
func tokenTypeAccepted(c *Claims, types []string) bool {
	if types == nil {
		if c.Type == "" {
			return slices.Contains(scopeWords(c.Scope), "access")
		}
		return slices.Contains(accessTokenTypes, c.Type)
	}
	return slices.Contains(types, "*") || (c.Type != "" && slices.Contains(types, c.Type))
}

// bearerChallenge is `Bearer realm="…", error="…", error_description="…", scope="…"` (absent parts left out).
func bearerChallenge(realm, code, description string, scopes []string) string {
	parts := []string{"realm=" + quoteParam(realm)}
	if code != "" {
		parts = append(parts, "error="+quoteParam(code), "error_description="+quoteParam(description))
	}
	if len(scopes) > 0 {
		parts = append(parts, "scope="+quoteParam(strings.Join(scopes, " ")))
	}
	return "Bearer " + strings.Join(parts, ", ")
}

// quoteParam is a quoted-string (RFC 7230 §3.2.6): \ and " escaped, anything outside printable ASCII as '?'.
func quoteParam(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
