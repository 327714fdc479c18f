'use strict';
/**
 * @file node/lib/middleware.js
 * @brief `requireAuth()`: Bearer-token middleware for Express 5 and plain `node:http` over the Verifier.
 *
 * Answers (RFC 6750 §3): no credentials → 401 `WWW-Authenticate: Bearer`; a malformed Authorization header →
 * 400 `error="invalid_request"`; a rejected token → 401 `error="invalid_token"` with the stable code name as
 * `error_description` (the token itself is never echoed); keys that cannot be fetched (COTTER_EJWKS_*) → 503 with
 * `Retry-After`. A bad token never causes a 500. Verification runs off the event loop (`verifier.verify`).
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

/** A quoted-string (RFC 7230 §3.2.6) for a WWW-Authenticate parameter value. */
function quote(value) {
  return '"' + String(value).replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, '?') + '"';
}

function challenge(realm, params) {
  const parts = [];
  if (realm !== undefined) parts.push(`realm=${quote(realm)}`);
  for (const [k, v] of Object.entries(params)) parts.push(`${k}=${quote(v)}`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
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
 * Parses the Authorization header. Returns { token } for well-formed Bearer credentials, { missing: true } when
 * the request carries no Bearer credentials (no header, or another scheme), { malformed: description } otherwise.
 */
function bearerToken(header) {
  if (header === undefined || header === null || header === '') return { missing: true };
  if (typeof header !== 'string') return { malformed: 'more than one Authorization header' };
  const m = CREDENTIALS.exec(header.trim());
  if (!m) return { malformed: 'malformed Authorization header' };
  if (m[1].toLowerCase() !== 'bearer') return { missing: true };
  const token = m[2];
  if (token === undefined || token === '') return { malformed: 'empty bearer token' };
  if (!B64TOKEN.test(token)) return { malformed: 'malformed bearer token' };
  return { token };
}

/**
 * Creates the middleware. `options` are the Verifier's (audience, issuer, jwksUrl | baseUrl | jwks, leeway,
 * tokenCache, caFile, now) or an existing `verifier` (shared, not closed by `close()`), plus:
 *  - `realm`: the realm of the challenges (none by default);
 *  - `retryAfterSeconds`: the Retry-After of 503 answers (default 10);
 *  - `property`: where the claims go on the request (default 'auth').
 * The returned function works as Express middleware and as `handler(req, res, next)` for plain node:http; it
 * resolves once it has answered or called `next()`. `next(err)` is called only for failures that are not the
 * client's fault and not a key outage (out of memory, internal errors).
 */
function requireAuth(options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('requireAuth: options must be an object');
  const { verifier: given, realm, retryAfterSeconds = 10, property = 'auth', ...verifierOptions } = options;
  if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
    throw new TypeError('requireAuth: retryAfterSeconds must be a non-negative integer');
  }
  if (typeof property !== 'string' || property === '' || property === '__proto__' || property === 'constructor') {
    throw new TypeError('requireAuth: property must be a plain property name');
  }
  const { Verifier, CotterError } = cotter();
  if (given !== undefined && !(given instanceof Verifier)) throw new TypeError('requireAuth: verifier must be a Verifier');
  const verifier = given || new Verifier(verifierOptions);
  const owned = given === undefined;

  async function handler(req, res, next) {
    const parsed = bearerToken(req.headers.authorization);
    if (parsed.missing) {
      send(res, 401, { 'WWW-Authenticate': challenge(realm, {}) }, { error: 'unauthorized', error_description: 'bearer token required' });
      return;
    }
    if (parsed.malformed) {
      send(res, 400, { 'WWW-Authenticate': challenge(realm, { error: 'invalid_request', error_description: parsed.malformed }) },
        { error: 'invalid_request', error_description: parsed.malformed });
      return;
    }
    let claims;
    try {
      claims = await verifier.verify(parsed.token);
    } catch (err) {
      const code = err instanceof CotterError ? String(err.code) : '';
      if (code.startsWith('COTTER_EJWKS_')) {
        send(res, 503, { 'Retry-After': String(retryAfterSeconds) }, { error: 'temporarily_unavailable', error_description: code });
      } else if (code.startsWith('COTTER_EJWT_')) {
        send(res, 401, { 'WWW-Authenticate': challenge(realm, { error: 'invalid_token', error_description: code }) },
          { error: 'invalid_token', error_description: code });
      } else if (typeof next === 'function') {
        // Not the client's fault: out of memory, a closed verifier (COTTER_EINVAL), a bug.
        next(err);
      } else {
        send(res, 500, {}, { error: 'server_error' });
      }
      return;
    }
    // Outside the try: an exception thrown by the next handler is not a token problem.
    req[property] = claims;
    if (typeof next === 'function') next();
  }

  Object.defineProperty(handler, 'verifier', { value: verifier, enumerable: true });
  /** Frees the verifier this middleware created (a `verifier` passed in stays open). */
  handler.close = () => { if (owned) verifier.close(); };
  return handler;
}

/**
 * For plain node:http: `http.createServer(withAuth(options, (req, res) => { ...req.auth... }))`. Errors of the
 * handler (sync or async) become a 500 without details.
 */
function withAuth(options, handler) {
  if (typeof handler !== 'function') throw new TypeError('withAuth: handler must be a function');
  const auth = requireAuth(options);
  const listener = (req, res) => {
    const fail = () => send(res, 500, {}, { error: 'server_error' });
    auth(req, res, (err) => {
      if (err) return fail();
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

module.exports = { requireAuth, withAuth };
