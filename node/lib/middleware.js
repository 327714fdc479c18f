'use strict';
/**
 * @file node/lib/middleware.js
 * @brief `requireAuth()`: Bearer-token middleware for Express 5 and plain `node:http` over the Verifier, shaped like
 * express-oauth2-jwt-bearer: failures go to `next(err)` as an `UnauthorizedError` carrying `status`, `code` and the
 * `WWW-Authenticate` value (`err.headers`), so the app shapes the answer (`authErrorHandler()` is a ready one).
 *
 * Answers (RFC 6750 §3), identical in the Go and Rust middleware (tests/fixtures/middleware/cases.json):
 *  - no Bearer credentials → 401 `Bearer realm="api"` (no `error=`), or, with `authRequired: false`, `next()` without
 *    claims;
 *  - a malformed Authorization header → 400 `error="invalid_request"`;
 *  - a rejected token → 401 `error="invalid_token"`, `error_description` = the stable code name (never the token);
 *    a token of another type (an ID token) → "token type not accepted"; a failed `claimCheck` → "claim check failed";
 *  - a missing `requiredScopes` scope → 403 `error="insufficient_scope"`, `scope="..."`;
 *  - keys that cannot be fetched (COTTER_EJWKS_*) → `KeysUnavailableError`: 503 with `Retry-After`.
 * Verification runs off the event loop (`verifier.verify`).
 */

// The package entry is required lazily: index.js re-exports this module, so a top-level require would be a cycle.
let lib;
function cotter() {
  if (!lib) lib = require('./index');
  return lib;
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// RFC 7235 §2.1: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
const CREDENTIALS = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?: +(.*))?$/;
// The `type` values of Cotter's access tokens (spec §3.3); the default policy also takes a token without `type`
// whose scope has `access` (the spec advises not to depend on `type` alone).
const ACCESS_TOKEN_TYPES = ['client_access_token', 'access_token'];

/** A quoted-string (RFC 7230 §3.2.6) for a WWW-Authenticate parameter value. */
function quote(value) {
  return '"' + String(value).replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/gu, '?') + '"';
}

/** `Bearer realm="…", error="…", error_description="…", scope="…"`, in that order, absent parameters left out. */
function challenge(realm, error, description, scopes) {
  const parts = [];
  if (realm) parts.push(`realm=${quote(realm)}`);
  if (error) parts.push(`error=${quote(error)}`, `error_description=${quote(description)}`);
  if (scopes && scopes.length) parts.push(`scope=${quote(scopes.join(' '))}`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

/**
 * The request lacks valid Bearer credentials (RFC 6750 §3.1). The base class (no `code`) means "no credentials";
 * the subclasses carry the RFC error code. `status`/`statusCode` and `headers` are what Express's default error
 * handler reads; `wwwAuthenticate` is the challenge; `cause` the CotterError of a rejected token.
 */
class UnauthorizedError extends Error {
  constructor(message = 'Unauthorized', { realm = 'api', cause, scopes } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = this.constructor.name;
    this.status = this.constructor.status;
    this.statusCode = this.status;
    this.code = this.constructor.code;
    this.expose = true; // http-errors convention: the message is safe to show (it never holds the token)
    if (scopes !== undefined) this.scopes = [...scopes];
    this.wwwAuthenticate = challenge(realm || 'api', this.code, message, this.scopes);
    this.headers = { 'WWW-Authenticate': this.wwwAuthenticate };
  }
}
UnauthorizedError.status = 401;
UnauthorizedError.code = undefined;

/** 400 `invalid_request`: a malformed Authorization header. */
class InvalidRequestError extends UnauthorizedError {}
InvalidRequestError.status = 400;
InvalidRequestError.code = 'invalid_request';

/** 401 `invalid_token`: the token is expired, forged, for another audience, of another type, or fails claimCheck. */
class InvalidTokenError extends UnauthorizedError {}
InvalidTokenError.status = 401;
InvalidTokenError.code = 'invalid_token';

/** 403 `insufficient_scope`: a valid token without every scope of `requiredScopes` (`scopes`, in the challenge). */
class InsufficientScopeError extends UnauthorizedError {
  constructor(scopes, message = 'insufficient scope', options = {}) {
    super(message, { ...options, scopes });
  }
}
InsufficientScopeError.status = 403;
InsufficientScopeError.code = 'insufficient_scope';

/** 503: the key set cannot be fetched (`cause` = the COTTER_EJWKS_* error); the token may well be valid. */
class KeysUnavailableError extends Error {
  constructor(retryAfterSeconds, cause) {
    super(String(cause.code), { cause }); // the stable code name (COTTER_EJWKS_UNAVAILABLE...)
    this.name = 'KeysUnavailableError';
    this.status = 503;
    this.statusCode = 503;
    this.code = 'temporarily_unavailable';
    this.expose = true;
    this.headers = { 'Retry-After': String(retryAfterSeconds) };
  }
}

function send(res, status, headers, body) {
  if (res.headersSent || res.writableEnded) return;
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

/**
 * Express error middleware answering the middleware's errors: their status and headers, and a JSON body
 * `{error, error_description}` (no `error` when the request had no credentials). Other errors go on to `next(err)`.
 */
function authErrorHandler() {
  return function cotterAuthErrorHandler(err, req, res, next) {
    if (!(err instanceof UnauthorizedError || err instanceof KeysUnavailableError)) return next(err);
    const body = err.code === undefined ? { error_description: err.message } : { error: err.code, error_description: err.message };
    send(res, err.status, err.headers, body);
    return undefined;
  };
}

/**
 * Parses the Authorization header lines. Returns { token } for well-formed Bearer credentials, { missing: true }
 * when the request carries no Bearer credentials (no header, an empty one, or another scheme), { malformed:
 * description } otherwise.
 */
function bearerToken(req) {
  // Node keeps only the first of repeated Authorization headers in req.headers: count them in headersDistinct.
  const lines = req.headersDistinct ? req.headersDistinct.authorization : undefined;
  if (lines && lines.length > 1) return { malformed: 'more than one Authorization header' };
  const header = req.headers.authorization;
  if (header === undefined || header === null || (typeof header === 'string' && header.trim() === '')) return { missing: true };
  if (typeof header !== 'string') return { malformed: 'more than one Authorization header' };
  const m = CREDENTIALS.exec(header.trim());
  if (!m) return { malformed: 'malformed Authorization header' };
  if (m[1].toLowerCase() !== 'bearer') return { missing: true };
  const token = m[2];
  if (token === undefined || token === '') return { malformed: 'empty bearer token' };
  if (!B64TOKEN.test(token)) return { malformed: 'malformed bearer token' };
  return { token };
}

/** The scope claim as words: a claim that is not a string grants nothing. */
function scopesOf(claims) {
  return typeof claims.scope === 'string' ? claims.scope.split(' ').filter((s) => s !== '') : [];
}

/** The token-type policy: `tokenTypes` (a list, '*' = any) or, by default, Cotter's access tokens only. */
function typeAccepted(claims, tokenTypes) {
  const type = typeof claims.type === 'string' ? claims.type : undefined;
  if (tokenTypes === undefined) {
    return type === undefined ? scopesOf(claims).includes('access') : ACCESS_TOKEN_TYPES.includes(type);
  }
  return tokenTypes.includes('*') || (type !== undefined && tokenTypes.includes(type));
}

function stringList(value, what) {
  const list = typeof value === 'string' ? value.split(' ').filter((s) => s !== '') : value;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s !== '' && !/[\s"\\]/.test(s))) {
    throw new TypeError(`requireAuth: ${what} must be a list of words (or one space-separated string)`);
  }
  return [...list];
}

/**
 * Creates the middleware. `options` are the Verifier's (audience, issuer, jwksUrl | baseUrl | jwks, leeway,
 * tokenCache, caFile, now) or an existing `verifier` (shared, not closed by `close()`), plus:
 *  - `realm`: the realm of the challenges (default, and for '', 'api');
 *  - `tokenTypes`: the accepted `type` claims ('*' = any); default: access tokens only;
 *  - `requiredScopes`: scopes the token must all have (array or space-separated string);
 *  - `claimCheck(claims)`: a predicate over the verified claims; false → 401 invalid_token;
 *  - `authRequired` (default true): false lets requests without credentials through, without claims;
 *  - `retryAfterSeconds`: the Retry-After of KeysUnavailableError (default 10);
 *  - `property`: where the claims go on the request (default 'auth').
 * The returned function works as Express middleware and as `handler(req, res, next)` for plain node:http; it
 * resolves once it has called `next()` or `next(err)`. Without a `next`, it answers errors itself.
 */
function requireAuth(options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('requireAuth: options must be an object');
  const {
    verifier: given, realm = 'api', retryAfterSeconds = 10, property = 'auth', authRequired = true,
    requiredScopes, claimCheck, tokenTypes, ...verifierOptions
  } = options;
  if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
    throw new TypeError('requireAuth: retryAfterSeconds must be a non-negative integer');
  }
  if (typeof property !== 'string' || property === '' || property === '__proto__' || property === 'constructor') {
    throw new TypeError('requireAuth: property must be a plain property name');
  }
  if (typeof realm !== 'string') throw new TypeError('requireAuth: realm must be a string');
  if (typeof authRequired !== 'boolean') throw new TypeError('requireAuth: authRequired must be a boolean');
  if (claimCheck !== undefined && typeof claimCheck !== 'function') throw new TypeError('requireAuth: claimCheck must be a function');
  const scopes = requiredScopes === undefined ? [] : stringList(requiredScopes, 'requiredScopes');
  const types = tokenTypes === undefined ? undefined : stringList(tokenTypes, 'tokenTypes');
  const { Verifier, CotterError } = cotter();
  if (given !== undefined && !(given instanceof Verifier)) throw new TypeError('requireAuth: verifier must be a Verifier');
  const verifier = given || new Verifier(verifierOptions);
  const owned = given === undefined;
  const fallback = authErrorHandler();

  /** The claims, or an error for next(err); undefined claims and no error: no credentials, and none required. */
  async function authenticate(req) {
    const parsed = bearerToken(req);
    if (parsed.missing) return authRequired ? { error: new UnauthorizedError('Unauthorized', { realm }) } : {};
    if (parsed.malformed) return { error: new InvalidRequestError(parsed.malformed, { realm }) };
    let claims;
    try {
      claims = await verifier.verify(parsed.token);
    } catch (err) {
      const code = err instanceof CotterError ? String(err.code) : '';
      if (code.startsWith('COTTER_EJWKS_')) return { error: new KeysUnavailableError(retryAfterSeconds, err) };
      // The stable code name tells the client why, without echoing the token.
      if (code.startsWith('COTTER_EJWT_')) return { error: new InvalidTokenError(code, { realm, cause: err }) };
      return { error: err }; // not the client's fault: out of memory, a closed verifier (COTTER_EINVAL), a bug
    }
    // Invalid before insufficient: a token of the wrong kind or failing the check is not valid for this API at all.
    if (!typeAccepted(claims, types)) return { error: new InvalidTokenError('token type not accepted', { realm }) };
    if (claimCheck !== undefined && !claimCheck(claims)) return { error: new InvalidTokenError('claim check failed', { realm }) };
    const have = scopesOf(claims);
    if (!scopes.every((s) => have.includes(s))) return { error: new InsufficientScopeError(scopes, 'insufficient scope', { realm }) };
    return { claims };
  }

  async function handler(req, res, next) {
    let result;
    try {
      result = await authenticate(req);
    } catch (err) {
      result = { error: err }; // a throwing claimCheck: the app's bug, not a 401
    }
    if (result.error === undefined && result.claims !== undefined) req[property] = result.claims;
    // Outside the try: an exception thrown by the next handler is not a token problem.
    if (typeof next === 'function') {
      next(result.error);
    } else if (result.error !== undefined) {
      fallback(result.error, req, res, () => send(res, 500, {}, { error: 'server_error' }));
    }
  }

  Object.defineProperty(handler, 'verifier', { value: verifier, enumerable: true });
  /** Frees the verifier this middleware created (a `verifier` passed in stays open). */
  handler.close = () => { if (owned) verifier.close(); };
  return handler;
}

/**
 * For plain node:http: `http.createServer(withAuth(options, (req, res) => { ...req.auth... }))`. The middleware's
 * errors are answered as authErrorHandler() does; other errors and errors of the handler (sync or async) become a
 * 500 without details.
 */
function withAuth(options, handler) {
  if (typeof handler !== 'function') throw new TypeError('withAuth: handler must be a function');
  const auth = requireAuth(options);
  const answer = authErrorHandler();
  const listener = (req, res) => {
    const fail = () => send(res, 500, {}, { error: 'server_error' });
    auth(req, res, (err) => {
      if (err !== undefined) return answer(err, req, res, fail);
      try {
        const r = handler(req, res);
        if (r && typeof r.then === 'function') r.then(undefined, fail);
      } catch {
        fail();
      }
      return undefined;
    }).catch(fail);
  };
  Object.defineProperty(listener, 'verifier', { value: auth.verifier, enumerable: true });
  listener.close = auth.close;
  return listener;
}

module.exports = {
  requireAuth, withAuth, authErrorHandler,
  UnauthorizedError, InvalidRequestError, InvalidTokenError, InsufficientScopeError, KeysUnavailableError,
};
