'use strict';
/**
 * @file node/lib/index.js
 * @brief cotter-native: the JS face of the native addon (cotter.node; see native.js). Classes with camelCase
 *        methods and option objects; results typed and redacted; every failure a CotterError.
 *
 * The addon does the work (C ABI through capi/include/cotter.hpp); this file only shapes arguments and results.
 * Secrets (API secret, access/ID/refresh tokens, provider tokens) live in private fields: util.inspect,
 * JSON.stringify and String() show them redacted.
 */
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');

const native = require('./native');

const REDACTED = '[redacted]';
const inspectCustom = util.inspect.custom;

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/**
 * Every failure of this package. `code` is the stable C ABI name ('COTTER_EJWT_EXPIRED', 'COTTER_EOAUTH'...),
 * `status` its negative number, `httpStatus` the HTTP status involved (0 when none). Messages never carry a
 * secret or a token. A cancelled call (its AbortSignal aborted) is named 'AbortError', as Node's own APIs and
 * fetch name theirs, with code 'COTTER_ECANCELED' and `cause` = the signal's reason.
 */
class CotterError extends Error {
  constructor(message, details = {}) {
    super(message);
    this.name = details.code === 'COTTER_ECANCELED' ? 'AbortError' : 'CotterError';
    this.code = details.code || 'COTTER_EINTERNAL';
    this.status = typeof details.status === 'number' ? details.status : -10;
    this.httpStatus = details.httpStatus || 0;
    this.oauthError = details.oauthError ?? null;
    this.oauthErrorDescription = details.oauthErrorDescription ?? null;
    this.retryAfter = details.retryAfter ?? null;
  }
}
native.setErrorClass(CotterError);

/**
 * Status numbers by name, generated from capi/abi.json like cotter.h itself (tests/node/exports.test.js checks that
 * the addon names each one alike).
 */
/* BEGIN GENERATED status codes (scripts/gen.py from capi/abi.json; do not edit) */
const codes = Object.freeze({
  COTTER_OK: 0,
  COTTER_EINVAL: -1,
  COTTER_ENOMEM: -2,
  COTTER_ENETWORK: -3,
  COTTER_ETIMEOUT: -4,
  COTTER_ETLS: -5,
  COTTER_EHTTP: -6,
  COTTER_EOAUTH: -7,
  COTTER_EPROTOCOL: -8,
  COTTER_EUSER: -9,
  COTTER_EINTERNAL: -10,
  COTTER_EREAUTH: -11,
  COTTER_ESTORAGE: -12,
  COTTER_ENOTFOUND: -13,
  COTTER_ESTATE: -14,
  COTTER_ECANCELED: -15,
  COTTER_ECREDENTIALS: -16,
  COTTER_ESHARED_UNAVAILABLE: -17,
  COTTER_EJWT_MALFORMED: -20,
  COTTER_EJWT_ALG: -21,
  COTTER_EJWT_HEADER: -22,
  COTTER_EJWT_CRIT: -23,
  COTTER_EJWT_DUPLICATE: -24,
  COTTER_EJWT_KEY_NOT_FOUND: -25,
  COTTER_EJWT_KEY_MISMATCH: -26,
  COTTER_EJWT_SIGNATURE: -27,
  COTTER_EJWT_CLAIM_TYPE: -28,
  COTTER_EJWT_ISSUER: -29,
  COTTER_EJWT_AUDIENCE: -30,
  COTTER_EJWT_EXPIRED: -31,
  COTTER_EJWT_NOT_YET_VALID: -32,
  COTTER_EJWT_MISSING_CLAIM: -33,
  COTTER_EJWKS_INVALID: -40,
  COTTER_EJWKS_UNAVAILABLE: -41,
  COTTER_ELEGACY_SIGNATURE: -50,
  COTTER_ELEGACY_CLAIM: -51,
});
/* END GENERATED status codes */

/** The library's log lines for a JS `log(level, message)`; a logger that throws fails loudly on the next tick. */
function logOption(log) {
  if (log === undefined || log === null) return undefined;
  if (typeof log !== 'function') throw invalid('option log must be a function');
  return (level, message) => {
    try { log(level, message); } catch (e) { process.nextTick(() => { throw e; }); }
  };
}

function invalid(message) {
  return new CotterError(message, { code: 'COTTER_EINVAL', status: -1 });
}

function optionsOf(value, what) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${what} must be an object`);
  return value;
}

// ------------------------------------------------------------------------------------------------
// Per-call options: { signal, timeoutMs }
// ------------------------------------------------------------------------------------------------

const NO_CALL_OPTIONS = Object.freeze({ signal: null, timeoutMs: 0 });
const MAX_CALL_TIMEOUT_MS = 86400000;

/** The last argument of every async method: `{ signal?: AbortSignal, timeoutMs?: number }`. */
function callOptions(value, { timeout = true } = {}) {
  if (value === undefined || value === null) return NO_CALL_OPTIONS;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('call options must be an object');
  const { signal, timeoutMs } = value;
  if (signal !== undefined && signal !== null
      && (typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw invalid('option signal must be an AbortSignal');
  }
  if (timeoutMs !== undefined && timeoutMs !== null) {
    if (!timeout) throw invalid('this call takes no timeoutMs (it does not wait for the network)');
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_CALL_TIMEOUT_MS) {
      throw invalid(`option timeoutMs must be an integer in [1, ${MAX_CALL_TIMEOUT_MS}]`);
    }
  }
  return { signal: signal ?? null, timeoutMs: timeoutMs ?? 0 };
}

/** The rejection of a call whose signal was aborted: a CotterError named 'AbortError', `cause` = the reason. */
function abortError(signal, message = 'the call was cancelled: its AbortSignal was aborted') {
  const e = new CotterError(message, { code: 'COTTER_ECANCELED', status: -15 });
  Object.defineProperty(e, 'cause', { value: signal.reason, writable: true, configurable: true, enumerable: false });
  return e;
}

/**
 * The calls waiting on each signal. One 'abort' listener per signal, whatever the number of calls on it (1,000
 * calls sharing one shutdown signal add one listener, not 1,000: no MaxListenersExceededWarning), removed when the
 * last of them settles.
 */
const watched = new WeakMap();  // AbortSignal -> Set of functions to run on abort

function watch(signal, onAbort) {
  let set = watched.get(signal);
  if (set === undefined) {
    const fns = new Set();
    const listener = () => { watched.delete(signal); for (const fn of fns) fn(); };
    set = { fns, listener };
    watched.set(signal, set);
    signal.addEventListener('abort', listener, { once: true });
  }
  set.fns.add(onAbort);
}

function unwatch(signal, onAbort) {
  const set = watched.get(signal);
  if (set === undefined || !set.fns.delete(onAbort) || set.fns.size > 0) return;
  watched.delete(signal);
  signal.removeEventListener('abort', set.listener);
}

/**
 * Runs one native network call: `start(timeoutMs, cancellable)` returns its promise, or [promise, id] when
 * cancellable. With a signal: an aborted signal rejects at once (nothing is started), an abort later cancels the
 * C call (it ends with COTTER_ECANCELED), and the signal is let go when the call settles.
 */
function run(o, start) {
  const signal = o.signal;
  if (signal === null) return start(o.timeoutMs, false);
  if (signal.aborted) return Promise.reject(abortError(signal));
  const [promise, id] = start(o.timeoutMs, true);
  return withSignal(promise, signal, () => native.cancelCall(id));
}

async function withSignal(promise, signal, cancel) {
  watch(signal, cancel);
  try {
    return await promise;
  } catch (e) {
    if (e instanceof CotterError && e.code === 'COTTER_ECANCELED' && signal.aborted) {
      Object.defineProperty(e, 'cause', { value: signal.reason, writable: true, configurable: true, enumerable: false });
    }
    throw e;
  } finally {
    unwatch(signal, cancel);
  }
}

/** For work that cannot be stopped (a verification, a session being opened): an abort rejects now; the result is dropped. */
function raceSignal(promise, signal) {
  if (signal === null) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    watch(signal, onAbort);
    promise.then((v) => { unwatch(signal, onAbort); resolve(v); },
      (e) => { unwatch(signal, onAbort); reject(e); });
  });
}

/** A JSON argument given as an object or as its text. */
function jsonText(value, what) {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  throw invalid(`${what} must be an object or a JSON string`);
}

// ------------------------------------------------------------------------------------------------
// Result types
// ------------------------------------------------------------------------------------------------

/** Cotter's oauth_token set. The three tokens are secrets: read them through the getters. */
class Token {
  #accessToken; #idToken; #refreshToken;
  constructor(raw) {
    this.#accessToken = raw.access_token ?? null;
    this.#idToken = raw.id_token ?? null;
    this.#refreshToken = raw.refresh_token ?? null;
    this.tokenType = raw.token_type ?? null;
    this.authMethod = raw.auth_method ?? null;
    this.expiresIn = raw.expires_in ?? 0;
    // `exp` of the access token, read without verification: for scheduling a refresh only (0 when unknown).
    this.expiresAt = raw.expires_at ?? 0;
    Object.freeze(this);
  }
  get accessToken() { return this.#accessToken; }
  get idToken() { return this.#idToken; }
  get refreshToken() { return this.#refreshToken; }
  /** The six-key `oauth_token` object, secrets included (for storage you control). */
  toOAuthToken() {
    const o = { access_token: this.#accessToken, auth_method: this.authMethod, expires_in: this.expiresIn,
      id_token: this.#idToken, refresh_token: this.#refreshToken, token_type: this.tokenType };
    for (const k of Object.keys(o)) if (o[k] === null) delete o[k];
    return o;
  }
  /** Parses an oauth_token object or its JSON text (e.g. a token file of Cotter's SDKs). */
  static from(value) {
    if (value === null || (typeof value !== 'string' && typeof value !== 'object')) {
      throw new CotterError('not an oauth_token object (access_token missing)', { code: 'COTTER_EPROTOCOL', status: -8 });
    }
    // The library parses it (the rules of a token file) and reads the access token's `exp`.
    return new Token(native.tokenFromJson(typeof value === 'string' ? value : JSON.stringify(value)));
  }
  toJSON() { return this.#redacted(); }
  toString() { return `Token(${this.tokenType || 'Bearer'}, expiresAt=${this.expiresAt})`; }
  [inspectCustom](depth, options, inspect) { return `Token ${inspect(this.#redacted(), options)}`; }
  #redacted() {
    return { accessToken: this.#accessToken === null ? null : REDACTED, idToken: this.#idToken === null ? null : REDACTED,
      refreshToken: this.#refreshToken === null ? null : REDACTED, tokenType: this.tokenType,
      authMethod: this.authMethod, expiresIn: this.expiresIn, expiresAt: this.expiresAt };
  }
}

// A record crosses the ABI as the JSON object the core checked (capi/abi.json `records`); its class reads members.
const member = (o, ...keys) => {
  for (const k of keys) o = o !== null && typeof o === 'object' ? o[k] : undefined;
  return o ?? null;
};
const strings = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);
const tokenOrNull = (v) => (v === null ? null : Token.from(v));

// BEGIN GENERATED records (scripts/gen.py from capi/abi.json; do not edit)
/** A Cotter user object (spec §2.10) as the server sent it, unknown members kept. */
class User {
  constructor(json) {
    this.id = member(json, 'ID');
    this.issuer = member(json, 'issuer');
    this.clientUserId = member(json, 'client_user_id');
    this.identifier = member(json, 'identifier');
    this.defaultMethod = member(json, 'default_method');
    this.createdAt = member(json, 'created_at');
    this.enrolled = strings(member(json, 'enrolled'));
    this.raw = json;
    Object.freeze(this);
  }
}

/** A social-login provider token record (spec §2.12) as the server sent it; holds the provider's token. */
class SocialToken {
  #accessToken; #raw;
  constructor(json) {
    this.provider = member(json, 'identity_provider');
    this.providerUserId = member(json, 'provider_user_id');
    this.providerUsername = member(json, 'provider_username');
    this.userId = member(json, 'user_id');
    this.#accessToken = member(json, 'tokens', 'access_token');
    this.scope = member(json, 'tokens', 'scope');
    this.tokenType = member(json, 'tokens', 'token_type');
    this.#raw = json;
    Object.freeze(this);
  }
  /** The provider's access token (a secret). */
  get accessToken() { return this.#accessToken; }
  /** The whole object as the API sent it (holds secrets). */
  get raw() { return this.#raw; }
  toJSON() { return { ...this, accessToken: this.#accessToken === null ? null : REDACTED }; }
  [inspectCustom](depth, options, inspect) { return `SocialToken ${inspect(this.toJSON(), options)}`; }
}

/** The get_identity response (spec §2.9), as the server sent it: who logged in, their token set and the Identity Token. */
class Identity {
  #identityToken; #raw;
  constructor(json) {
    this.identifier = member(json, 'identifier', 'identifier');
    this.identifierType = member(json, 'identifier', 'identifier_type');
    this.userId = member(json, 'user', 'ID');
    this.token = tokenOrNull(member(json, 'oauth_token'));
    this.#identityToken = member(json, 'token');
    this.user = member(json, 'user');
    this.#raw = json;
    Object.freeze(this);
  }
  /** The Ed25519 Identity Token object, for the identity_token grant and its verification. */
  get identityToken() { return this.#identityToken; }
  /** The whole object as the API sent it (holds secrets). */
  get raw() { return this.#raw; }
  toJSON() { return { ...this, identityToken: this.#identityToken === null ? null : REDACTED }; }
  [inspectCustom](depth, options, inspect) { return `Identity ${inspect(this.toJSON(), options)}`; }
}
// END GENERATED records

// ------------------------------------------------------------------------------------------------
// Verifier
// ------------------------------------------------------------------------------------------------

/**
 * ES256 verifier of Cotter access and ID tokens. Exactly one key source: `jwks` (a JWKS object or JSON text),
 * `jwksUrl`, or `baseUrl` (then `<baseUrl>/token/jwks`).
 */
class Verifier {
  #n;
  constructor(options) {
    const o = optionsOf(options, 'options');
    // The library checks the options (exactly one of jwks and jwksUrl, the audience, the ranges) with the message
    // every language shows; baseUrl is this binding's shorthand for jwksUrl, so only its conflicts are checked here.
    let jwksUrl = o.jwksUrl;
    if (o.baseUrl !== undefined && o.baseUrl !== null) {
      if ((o.jwks ?? o.jwksUrl ?? null) !== null) throw invalid('give exactly one key source: jwks, jwksUrl or baseUrl');
      if (typeof o.baseUrl !== 'string') throw invalid('option baseUrl must be a string');
      jwksUrl = native.jwksUrl(o.baseUrl); // the library's rule: <baseUrl>/token/jwks
    }
    if (o.fromEnvironment !== undefined && typeof o.fromEnvironment !== 'boolean') throw invalid('option fromEnvironment must be a boolean');
    this.#n = new native.NativeVerifier({
      audience: o.audience, issuer: o.issuer, jwksJson: o.jwks === undefined || o.jwks === null ? undefined : jsonText(o.jwks, 'option jwks'),
      jwksUrl, caFile: o.caFile, leeway: o.leeway, tokenCache: o.tokenCache, now: o.now,
      jwksMaxAgeMs: o.jwksMaxAgeMs, jwksCooldownMs: o.jwksCooldownMs, jwksTimeoutMs: o.jwksTimeoutMs, jwksMaxBytes: o.jwksMaxBytes,
      fromEnvironment: o.fromEnvironment ? 1 : 0, // the library reads the variables, only when asked
      log: logOption(o.log),
    });
  }
  /** Verifies on the calling thread; returns every claim of the payload. Throws CotterError. */
  verifySync(token) { return JSON.parse(this.#n.verifySync(token)); }
  /** Verdict only (no claims object is built): true, or throws CotterError. */
  checkSync(token) { this.#n.checkSync(token); return true; }
  /**
   * Verifies off the event loop (CPU work, on the addon's verify threads); resolves with the claims. `{ signal }`:
   * an abort rejects at once. Not an async function: the addon's promise is returned as is (one promise per call).
   */
  verify(token, options) {
    try {
      const o = callOptions(options, { timeout: false });
      if (o.signal === null) return this.#n.verify(token);
      if (o.signal.aborted) return Promise.reject(abortError(o.signal));
      return raceSignal(this.#n.verify(token), o.signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /** Fetches the remote key set now (no-op for a static one), on the client I/O thread. `{ signal, timeoutMs }`. */
  async refresh(options) { await run(callOptions(options), (t, c) => this.#n.refresh(t, c)); }
  /** Moves the test clock of a verifier created with `now`. */
  setNow(now) { this.#n.setNow(now); }
  /** Frees the verifier (after calls in flight settle); later calls throw COTTER_EINVAL. */
  close() { this.#n.close(); }
  [inspectCustom]() { return 'Verifier {}'; }
}

// ------------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------------

const clientNative = new WeakMap();

/**
 * A connection to Cotter's API (or the emulator). Every call returns a Promise; requests run on the client's own
 * I/O thread (never the libuv pool), any number at once. The last argument of every call is `{ signal, timeoutMs }`.
 */
class Client {
  #n;
  #apiKeyId;
  constructor(options) {
    const o = optionsOf(options, 'options');
    this.#n = new native.NativeClient({
      apiKeyId: o.apiKeyId, apiSecretKey: o.apiSecretKey, baseUrl: o.baseUrl, workerUrl: o.workerUrl, caFile: o.caFile,
      connectTimeoutMs: o.connectTimeoutMs, timeoutMs: o.timeoutMs, maxRetries: o.maxRetries,
      retryBaseMs: o.retryBaseMs, retryMaxMs: o.retryMaxMs, maxResponseBytes: o.maxResponseBytes,
      maxHostConnections: o.maxHostConnections, log: logOption(o.log),
    });
    this.#apiKeyId = o.apiKeyId;
    clientNative.set(this, this.#n);
    /** Social-login provider tokens (need the API secret). */
    this.socialTokens = Object.freeze({
      list: (userId, options) => this.listSocialTokens(userId, options),
      get: (provider, userId, options) => this.getSocialToken(provider, userId, options),
      delete: (provider, userId, options) => this.deleteSocialToken(provider, userId, options),
    });
    Object.freeze(this);
  }
  get apiKeyId() { return this.#apiKeyId; }
  get baseUrl() { return this.#n.baseUrl(); }
  /** Request counters: { requests, connections, retries }. */
  stats() { return this.#n.stats(); }
  // BEGIN GENERATED client calls (scripts/gen.py from capi/abi.json; do not edit)
  /** Exchanges an Identity Token (JSON object) for an oauth token set. */
  async exchangeIdentityToken(identityToken, options) {
    const identityTokenJson = jsonText(identityToken, 'identityToken');
    const r = await run(callOptions(options), (t, c) => this.#n.exchangeIdentityToken(identityTokenJson, t, c));
    return new Token(r);
  }
  /** Exchanges an Event Token (JSON object) for an oauth token set. */
  async exchangeEventToken(eventToken, options) {
    const eventTokenJson = jsonText(eventToken, 'eventToken');
    const r = await run(callOptions(options), (t, c) => this.#n.exchangeEventToken(eventTokenJson, t, c));
    return new Token(r);
  }
  /** POST /token/<api_key_id> with a refresh token. */
  async refresh(refreshToken, options) {
    const r = await run(callOptions(options), (t, c) => this.#n.refresh(refreshToken, t, c));
    return new Token(r);
  }
  /** DELETE /token/<api_key_id>: ends the server session of `refresh_token` (may be null or omitted). */
  async logout(refreshToken, options) {
    await run(callOptions(options), (t, c) => this.#n.logout(refreshToken ?? null, t, c));
  }
  /** POST /token/custom: a new token carrying `custom_attributes_json` (a JSON object) as top-level claims. */
  async customClaims(token, customAttributes, refreshToken, options) {
    const customAttributesJson = jsonText(customAttributes, 'customAttributes');
    const r = await run(callOptions(options),
      (t, c) => this.#n.customClaims(token, customAttributesJson, refreshToken ?? null, t, c));
    return redactedPair(r.token, r.refresh_token);
  }
  /** POST /user/create. */
  async createUser(identifier, options) {
    const r = await run(callOptions(options), (t, c) => this.#n.createUser(identifier, t, c));
    return new User(r);
  }
  /** GET /user?identifier=. */
  async getUser(identifier, options) {
    const r = await run(callOptions(options), (t, c) => this.#n.getUser(identifier, t, c));
    return new User(r);
  }
  /** GET /user/:id (needs the secret). */
  async getUserById(userId, options) {
    const r = await run(callOptions(options), (t, c) => this.#n.getUserById(userId, t, c));
    return new User(r);
  }
  /** GET /user/list?page=N (50 per page, newest first; needs the secret). */
  async listUsers(page = 0, options) {
    const r = await run(callOptions(options), (t, c) => this.#n.listUsers(page, t, c));
    return r.users.map((x) => new User(x));
  }
  /** GET /oauth/token/list/:cotter_user_id (needs the secret). */
  async listSocialTokens(userId, options) {
    const r = await run(callOptions(options), (t, c) => this.#n.listSocialTokens(userId, t, c));
    return r.map((x) => new SocialToken(x));
  }
  /** GET /oauth/token/:provider/:cotter_user_id. */
  async getSocialToken(provider, userId, options) {
    const r = await run(callOptions(options), (t, c) => this.#n.getSocialToken(provider, userId, t, c));
    return new SocialToken(r);
  }
  /** DELETE /oauth/token/:provider/:cotter_user_id. */
  async deleteSocialToken(provider, userId, options) {
    await run(callOptions(options), (t, c) => this.#n.deleteSocialToken(provider, userId, t, c));
  }
  /** POST <worker_url> (Cotter's serverless verifier, spec §2.7) with the access token. */
  async verifyRemote(accessToken, options) {
    return run(callOptions(options), (t, c) => this.#n.verifyRemote(accessToken, t, c));
  }
  // END GENERATED client calls
  async getIdentity({ code, challengeId, codeVerifier, redirectUrl } = {}, options) {
    return new Identity(await run(callOptions(options),
      (t, c) => this.#n.getIdentity(code, challengeId, codeVerifier, redirectUrl, t, c)));
  }
  /**
   * Asks the trusted device of `clientUserId` to approve `event` (POST /event/create_pending): the event object
   * (`new` true). With `codeChallenge` (a PKCE challenge) only its verifier collects the tokens (getEvent).
   */
  async createPendingEvent(clientUserId, event = 'LOGIN', { codeChallenge, ...options } = {}) {
    return run(callOptions(options), (t, c) => this.#n.createPendingEvent(clientUserId, event, codeChallenge ?? null, t, c));
  }
  /** Polls an event (GET /event/get/:id); with `codeVerifier`, an approved event carries `oauth_token` (once). */
  async getEvent(eventId, { codeVerifier, ...options } = {}) {
    return run(callOptions(options), (t, c) => this.#n.getEvent(eventId, codeVerifier ?? null, t, c));
  }
  /**
   * Releases the client: later calls reject with COTTER_EINVAL. Calls in flight and sessions on it go on (the C
   * client is freed after the last of them).
   */
  close() { this.#n.close(); }
  [inspectCustom](depth, options, inspect) { return `Client ${inspect({ apiKeyId: this.#apiKeyId, apiSecretKey: REDACTED }, options)}`; }
  toJSON() { return { apiKeyId: this.#apiKeyId }; }
}

function redactedPair(token, refreshToken) {
  const r = {};
  Object.defineProperty(r, 'token', { value: token, enumerable: false });
  Object.defineProperty(r, 'refreshToken', { value: refreshToken ?? null, enumerable: false });
  Object.defineProperty(r, 'toJSON', { value: () => ({ token: REDACTED, refreshToken: refreshToken ? REDACTED : null }), enumerable: false });
  Object.defineProperty(r, inspectCustom, { value: () => `CustomClaims { token: '${REDACTED}', refreshToken: ${refreshToken ? `'${REDACTED}'` : 'null'} }`, enumerable: false });
  return Object.freeze(r);
}

// ------------------------------------------------------------------------------------------------
// Shared stores: sessions shared by a fleet through Redis (docs/node.md, "Sessions shared by a fleet (Redis)")
// ------------------------------------------------------------------------------------------------

const storeNative = new WeakMap();  // SharedStore -> its NativeSharedStore

/**
 * Where sessions shared by a fleet keep their tokens, refresh lease and version (docs/shared-sessions.md), over any
 * Redis client: `adapter.eval(script, sha1, keys, args)` runs `EVALSHA sha1 keys.length ...keys ...args` (and, on a
 * NOSCRIPT error, `EVAL script ...`) and resolves to the reply array (Buffers, strings or integers). The library
 * calls it on the event loop and never waits for it there. Optional `adapter.wait(channel, timeoutMs)` resolves to
 * true when a message arrives on the pub/sub `channel`, false when `timeoutMs` passes first (a rejection is a failed
 * wait): a replica that found the refresh lease held is then woken by the holder's message instead of polling.
 * Options: `keyPrefix` ('cotter'), `leaseTtlMs` (10000), `waitMs` (100). Give it to sessions as `sharedStore` with
 * a `sharedSessionId`.
 */
class SharedStore {
  #n;
  constructor(adapter, options) {
    if (adapter === null || typeof adapter !== 'object' || typeof adapter.eval !== 'function') {
      throw invalid('adapter must be an object with an eval(script, sha1, keys, args) function');
    }
    const o = optionsOf(options, 'options');
    if (adapter.wait !== undefined && typeof adapter.wait !== 'function') {
      throw invalid('adapter.wait must be a function (channel, timeoutMs) => Promise<boolean>');
    }
    const evalFn = adapter.eval.bind(adapter);
    const waitFn = adapter.wait?.bind(adapter);
    // async: a function that throws or returns a plain array still gives the addon a Promise.
    this.#n = new native.NativeSharedStore(async (script, sha1, keys, args) => evalFn(script, sha1, keys, args),
      { keyPrefix: o.keyPrefix, leaseTtlMs: o.leaseTtlMs, waitMs: o.waitMs },
      waitFn && (async (channel, timeoutMs) => (await waitFn(channel, timeoutMs)) === true));
    storeNative.set(this, this.#n);
  }
  /** New sessions can no longer use it; sessions using it keep it (and the Redis client) until they are closed. */
  close() { this.#n.close(); }
  [inspectCustom]() { return `${this.constructor.name} {}`; }
}

/**
 * A SharedStore over an ioredis client (`new Redis(...)` or `new Redis.Cluster([...])`): TLS, auth, Sentinel and
 * Cluster come from it. Every key of one script shares one hash tag, so a Cluster routes it to one slot. ioredis is
 * not a dependency of this package: pass the client you already have. For a fast COTTER_ESHARED_UNAVAILABLE when
 * Redis is down, give that client `enableOfflineQueue: false` (ioredis otherwise queues commands until it
 * reconnects, up to `maxRetriesPerRequest` reconnections).
 */
class RedisStore extends SharedStore {
  constructor(redis, options) {
    if (redis === null || typeof redis !== 'object' || typeof redis.callBuffer !== 'function') {
      throw invalid('redis must be an ioredis client (Redis or Cluster)');
    }
    const adapter = { eval: (script, sha1, keys, args) => ioredisEval(redis, script, sha1, keys, args) };
    if (typeof redis.duplicate === 'function') {  // ioredis always; a look-alike without it polls
      const subscriber = new IoredisSubscriber(redis);
      adapter.wait = (channel, timeoutMs) => subscriber.wait(channel, timeoutMs);
    }
    super(adapter, options);
  }
}

/** How long a channel stays subscribed after its last waiter: a session contended again soon finds it subscribed
 * (its losers never race their SUBSCRIBE against the holder's message). As the hiredis adapter does. */
const CHANNEL_LINGER_MS = 30000;

/**
 * RedisStore's waits: ONE subscriber connection per store (a duplicate of the user's client, or for a Cluster of one
 * of its masters: a classic PUBLISH reaches every node), made on the first wait. A map channel -> waiters: SUBSCRIBE
 * on a channel's first waiter, UNSUBSCRIBE CHANNEL_LINGER_MS after its last; each message completes every waiter of
 * its channel; each waiter has its own timer. The connection never reconnects by itself: a lost one fails every
 * waiter at once (the library polls) and the next wait makes a new one. Its socket and linger timers are unref'd (a
 * pending wait holds the event loop through the addon), and it ends with the user's client ('end'), so an idle store
 * keeps nothing alive.
 */
class IoredisSubscriber {
  #redis;
  #sub = null;               // the subscriber connection, or null
  #channels = new Map();     // channel -> { waiters: Set<{ settle, timer }>, linger: Timeout | null }
  constructor(redis) {
    this.#redis = redis;
    if (typeof redis.on === 'function') redis.on('end', () => this.#drop(this.#sub, 'the Redis client was closed'));
  }

  wait(channel, timeoutMs) {
    return new Promise((resolve, reject) => {
      const sub = this.#connection();
      let ch = this.#channels.get(channel);
      if (ch === undefined) {
        ch = { waiters: new Set(), linger: null };
        this.#channels.set(channel, ch);
        sub.subscribe(channel).catch(() => {
          // Not subscribed (the connection failed, or Redis refused): its waiters fail; the next wait tries again.
          if (this.#channels.get(channel) === ch) this.#channels.delete(channel);
          for (const w of ch.waiters) w.settle(new Error('Redis: SUBSCRIBE failed'));
        });
      }
      if (ch.linger !== null) {
        clearTimeout(ch.linger);
        ch.linger = null;
      }
      const w = {
        timer: null,
        settle: (outcome) => {  // true: a message; false: timed out; an Error: failed. Once.
          if (!ch.waiters.delete(w)) return;
          clearTimeout(w.timer);
          if (ch.waiters.size === 0 && this.#channels.get(channel) === ch) this.#linger(channel, ch);
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome);
        },
      };
      ch.waiters.add(w);
      w.timer = setTimeout(() => w.settle(false), timeoutMs);
    });
  }

  /** The subscriber connection, made on first use (throws when the client cannot be duplicated: a failed wait). */
  #connection() {
    if (this.#sub !== null) return this.#sub;
    let base = this.#redis;
    if (base.isCluster) {
      const masters = base.nodes('master');
      if (masters.length === 0) throw new Error('the Redis Cluster has no master connected yet');
      base = masters[Math.floor(Math.random() * masters.length)];
    }
    // Its own connection: no reconnection, no resubscription (a lost connection fails its waiters instead).
    const sub = base.duplicate({ lazyConnect: false, retryStrategy: () => null, autoResubscribe: false,
      enableOfflineQueue: true, maxRetriesPerRequest: 0, reconnectOnError: null });
    sub.on('error', () => {});  // reported to the waiters by 'end'
    sub.on('connect', () => sub.stream?.unref?.());
    sub.on('end', () => this.#drop(sub, 'the subscriber connection was lost'));
    sub.on('message', (channel) => {
      const ch = this.#channels.get(channel);
      if (ch !== undefined) for (const w of [...ch.waiters]) w.settle(true);
    });
    this.#sub = sub;
    return sub;
  }

  #linger(channel, ch) {
    ch.linger = setTimeout(() => {
      if (this.#channels.get(channel) !== ch || ch.waiters.size > 0) return;
      this.#channels.delete(channel);
      this.#sub?.unsubscribe(channel).catch(() => {});
    }, CHANNEL_LINGER_MS);
    ch.linger.unref();
  }

  /** The connection `sub` is gone (or the user's client ended): every waiter fails, every channel is forgotten. */
  #drop(sub, why) {
    if (sub === null || sub !== this.#sub) return;
    this.#sub = null;
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    for (const ch of channels) {
      if (ch.linger !== null) clearTimeout(ch.linger);
      for (const w of [...ch.waiters]) w.settle(new Error(why));
    }
    sub.disconnect();
  }
}

/**
 * EVALSHA, and EVAL when Redis does not know the script yet (a new or restarted server, a failover). callBuffer:
 * the reply's strings as Buffers (exact bytes); a Cluster routes the command by its first key.
 */
async function ioredisEval(redis, script, sha1, keys, args) {
  try {
    return await redis.callBuffer('EVALSHA', [sha1, keys.length, ...keys, ...args]);
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
    return redis.callBuffer('EVAL', [script, keys.length, ...keys, ...args]);
  }
}

// ------------------------------------------------------------------------------------------------
// TokenSession
// ------------------------------------------------------------------------------------------------

/**
 * One user's token set, kept valid: getAccessToken() refreshes when the access token expires within
 * `marginSeconds`; concurrent callers share one refresh. Storage: `file` (0600 token file, locked across
 * processes), or `load`/`save` hooks (sync or async), or `sharedStore` + `sharedSessionId` (a SharedStore: one
 * refresh across a fleet), or none (memory). `token` (a Token, an oauth_token object or its JSON) replaces what
 * storage holds. `onTokensChanged(token|null)` runs after every change. The last
 * argument of every call is `{ signal, timeoutMs }`.
 */
class TokenSession {
  #n;
  #token = null;
  #onChanged;
  #open = false;      // the native session exists
  #opening = null;    // its creation in progress (shared by every caller)
  #waiting = 0;       // calls waiting for it
  #closed = false;
  constructor(client, options) {
    const n = clientNative.get(client);
    if (!n) throw invalid('client must be a cotter Client');
    const o = optionsOf(options, 'options');
    const hasLoad = o.load !== undefined, hasSave = o.save !== undefined;
    if (hasLoad !== hasSave) throw invalid('give both load and save, or neither');
    if (hasLoad && (typeof o.load !== 'function' || typeof o.save !== 'function')) throw invalid('load and save must be functions');
    if (o.onTokensChanged !== undefined && typeof o.onTokensChanged !== 'function') throw invalid('onTokensChanged must be a function');
    let initialJson;
    if (o.token !== undefined && o.token !== null) {
      const t = o.token instanceof Token ? o.token : Token.from(o.token);
      initialJson = JSON.stringify(t.toOAuthToken());
      this.#token = t;
    }
    this.#onChanged = o.onTokensChanged;
    let sharedStore;
    if (o.sharedStore !== undefined && o.sharedStore !== null) {
      sharedStore = storeNative.get(o.sharedStore);
      if (sharedStore === undefined) throw invalid('option sharedStore must be a SharedStore (or RedisStore)');
    }
    const { load, save } = o;
    // Runs on the event loop for the client's I/O thread (or the thread that opens the session, for the first
    // load or store), which waits for load and save: 0 load, 1 save, 2 tokens changed. Load and save answer with
    // a Promise of the JSON text (or null); a rejection fails the operation with COTTER_EUSER.
    const hooks = (kind, json) => {
      if (kind === 2) {
        this.#token = json === null ? null : Token.from(json);
        if (this.#onChanged) {
          try { this.#onChanged(this.#token); } catch (e) { process.nextTick(() => { throw e; }); }
        }
        return undefined;
      }
      if (kind === 0) {
        return Promise.resolve().then(() => load()).then((v) => (v === undefined || v === null ? null
          : v instanceof Token ? JSON.stringify(v.toOAuthToken()) : jsonText(v, 'load() result')));
      }
      return Promise.resolve().then(() => save(json)).then(() => null);
    };
    this.#n = new native.NativeSession(n, {
      file: o.file, marginSeconds: o.marginSeconds, initialJson, hooks,
      hasStorage: hasLoad, hasChanged: true, sharedStore, sharedSessionId: o.sharedSessionId,
    });
  }
  /** The last token set this session saw (null before the first load or after logout). Sync; no I/O. */
  get token() { return this.#token; }
  /** A valid access token, refreshed first when needed (one refresh for any number of concurrent callers). */
  async getAccessToken(options) { return this.#call(options, (t, c) => this.#n.getAccessToken(t, c)); }
  /** The current token set, refreshed first when needed. */
  async getToken(options) { return this.#remember(await this.#call(options, (t, c) => this.#n.getToken(t, c))); }
  /** Refreshes now, whatever the expiry. */
  async refresh(options) { return this.#remember(await this.#call(options, (t, c) => this.#n.refresh(t, c))); }
  /** Replaces the token set (e.g. after a login) and stores it. */
  async setToken(token, options) {
    const t = token instanceof Token ? token : Token.from(token);
    const json = JSON.stringify(t.toOAuthToken());
    await this.#call(options, (ms, c) => this.#n.setToken(json, ms, c));
    this.#token = t;
  }
  /** Ends the server session (best effort) and deletes the stored tokens. */
  async logout(options) { await this.#call(options, (t, c) => this.#n.logout(t, c)); this.#token = null; }
  /** Releases the session: later calls reject with COTTER_EINVAL; calls already made go on. */
  close() {
    this.#closed = true;
    if (this.#waiting === 0) this.#n.close();
  }
  #remember(raw) { const t = new Token(raw); this.#token = t; return t; }

  /**
   * The native session is created by the first call (it may load from storage, on a thread of its own); calls
   * made meanwhile wait for it, and start even if close() came in between (like calls already in flight).
   */
  #call(options, start) {
    const o = callOptions(options);
    if (this.#closed) throw invalid('the session is closed');
    if (!this.#open && this.#opening === null) {
      if (o.signal !== null && o.signal.aborted) throw abortError(o.signal);
      const opened = this.#n.open();  // true (a memory session), or a Promise
      if (opened === true) this.#open = true;
      else this.#opening = opened.then(() => { this.#open = true; }).finally(() => { this.#opening = null; });
    }
    if (this.#open) return run(o, start);
    return this.#afterOpen(o, start);
  }
  async #afterOpen(o, start) {
    this.#waiting++;
    try {
      await raceSignal(this.#opening, o.signal);
      return await run(o, start);
    } finally {
      if (--this.#waiting === 0 && this.#closed) this.#n.close();
    }
  }
  [inspectCustom](depth, options, inspect) { return `TokenSession ${inspect({ token: this.#token }, options)}`; }
  toJSON() { return { token: this.#token }; }
}

// ------------------------------------------------------------------------------------------------
// PKCE, the hosted login page, Cotter's older Ed25519 tokens
// ------------------------------------------------------------------------------------------------

/** A fresh PKCE pair and state: { verifier, challenge, state }. Without an argument. With a verifier: its S256 challenge. */
function pkce(verifier) {
  if (verifier !== undefined) return native.pkceChallenge(verifier);
  return native.pkce();
}

/** The hosted-login URL with every parameter percent-encoded. */
function loginUrl(options) {
  const o = optionsOf(options, 'options');
  return native.loginUrl({ loginUrl: o.loginUrl, apiKeyId: o.apiKeyId, redirectUrl: o.redirectUrl, state: o.state,
    codeChallenge: o.codeChallenge, identifierType: o.identifierType, authMethod: o.authMethod, input: o.input,
    cotterUserId: o.cotterUserId });
}

/**
 * Checks a login redirect (a URL, or its query string) against the expected state: { code, challengeId }.
 * COTTER_ESTATE when the state differs or the redirect carries an error.
 */
function parseLoginRedirect(redirect, expectedState) {
  let query = redirect;
  if (redirect instanceof URL) query = redirect.search;
  else if (typeof redirect === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(redirect)) query = new URL(redirect).search;
  const r = native.parseLoginRedirect(query, expectedState);
  return Object.defineProperty({ challengeId: r.challengeId }, 'code', { value: r.code, enumerable: true });
}

/** Verifies an Identity Token (Ed25519): throws CotterError (COTTER_ELEGACY_*) or returns true. */
function verifyIdentityToken(identityToken, apiKeyId, options) {
  native.verifyIdentityToken(jsonText(identityToken, 'identityToken'), apiKeyId, optionsOf(options, 'options'));
  return true;
}

/** Verifies an Event Token (Ed25519): throws CotterError or returns true. */
function verifyEventToken(eventToken, apiKeyId, options) {
  native.verifyEventToken(jsonText(eventToken, 'eventToken'), apiKeyId, optionsOf(options, 'options'));
  return true;
}

const version = native.version();

module.exports = {
  Client, Verifier, TokenSession, SharedStore, RedisStore, CotterError, Token, User, SocialToken, Identity,
  pkce, loginUrl, parseLoginRedirect, verifyIdentityToken, verifyEventToken, version, codes,
  versionNumber: native.versionNumber(),
};

// The teammate's middleware and compatibility helpers join the exports once their files exist.
const EXTRA_EXPORTS = [
  ['./middleware', ['requireAuth', 'withAuth', 'authErrorHandler', 'UnauthorizedError', 'InvalidRequestError',
    'InvalidTokenError', 'InsufficientScopeError', 'KeysUnavailableError']],
  ['./compat', ['CotterValidateJWT', 'CotterJwtToken', 'CotterAccessToken', 'CotterIDToken']],
];
for (const [file, names] of EXTRA_EXPORTS) {
  if (!fs.existsSync(path.join(__dirname, file + '.js'))) continue;
  const m = require(file);
  for (const name of names) if (m[name] !== undefined) module.exports[name] = m[name];
}
