'use strict';
/**
 * @file tokens.js
 * @brief Minting and checking tokens: ES256 JWTs (spec §3), Ed25519 Identity/Event tokens
 *        (spec §4), refresh tokens `<int>:<secret>` and the six-key `oauth_token` (spec §3.1).
 */
const crypto = require('node:crypto');
const { HttpError, isPlainObject } = require('./util');

/** Claims a caller may not override through /token/custom or refresh. */
const RESERVED_CLAIMS = new Set(['iss', 'aud', 'sub', 'exp', 'iat', 'nbf', 'jti', 'client_user_id',
  'authentication_method', 'type', 'scope', 'identifier', 'auth_time']);

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** At most this many grant responses wait for one batch of signatures (~5 ms of signing). */
const MAX_SIGN_BATCH = 64;
const REFRESH_CHARS_RE = /^[0-9]+:[A-Za-z0-9_-]+$/;

/**
 * JSON.stringify(oauth) for the six-key `oauth_token` of issue(), as one template: its two JWTs
 * come from signJwt (base64url segments and '.', by construction) and its refresh token is
 * `<digits>:<base64url>`, so none needs escaping; only auth_method and expires_in go through
 * JSON.stringify (the generic serializer scans ~1.3 KB per response). Anything off that shape
 * takes the generic path.
 */
function oauthJson(o) {
  if (typeof o.auth_method !== 'string' || !Number.isFinite(o.expires_in) || o.token_type !== 'Bearer' ||
      typeof o.access_token !== 'string' || typeof o.id_token !== 'string' || !REFRESH_CHARS_RE.test(o.refresh_token)) {
    return JSON.stringify(o);
  }
  return `{"access_token":"${o.access_token}","auth_method":${JSON.stringify(o.auth_method)},"expires_in":${o.expires_in},` +
    `"id_token":"${o.id_token}","refresh_token":"${o.refresh_token}","token_type":"Bearer"}`;
}

class Tokens {
  /**
   * @param {object} o  {keys: KeyRing, store: Store, clock, config, stats?: Stats}
   */
  constructor(o) {
    this.keys = o.keys;
    this.store = o.store;
    this.clock = o.clock;
    this.config = o.config;
    this.stats = o.stats || null; // GET /dev/stats counts the batches
    this._batch = []; // pending signings of issueBatched()
    this._signBatch = () => {
      const jobs = this._batch;
      if (jobs.length === 0) return;
      this._batch = [];
      if (this.stats) this.stats.signBatch(jobs.length);
      for (const job of jobs) job();
    };
  }

  /** Sign `payload` as a compact ES256 JWS with the current key (or `key`). */
  signJwt(payload, key = this.keys.current) {
    const signingInput = key.headerB64 + '.' + Buffer.from(JSON.stringify(payload)).toString('base64url');
    // The signing input is ASCII (base64url and '.'), so latin1 is exact and skips UTF-8 encoding.
    const sig = crypto.sign('sha256', Buffer.from(signingInput, 'latin1'), key.signOptions);
    return signingInput + '.' + sig.toString('base64url');
  }

  /**
   * Verify a JWT we issued. Returns the payload or throws Error(reason).
   * @param {object} [o] {audience, ignoreExpiry}
   */
  verifyJwt(token, o = {}) {
    if (typeof token !== 'string' || token.length > 16384 || !JWT_RE.test(token)) throw new Error('malformed JWT');
    const [h, p, s] = token.split('.');
    let header, payload;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch { throw new Error('malformed JWT'); }
    if (!isPlainObject(header) || !isPlainObject(payload)) throw new Error('malformed JWT');
    if (header.alg !== 'ES256') throw new Error('unsupported alg');
    const candidates = typeof header.kid === 'string' ? [this.keys.find(header.kid)].filter(Boolean) : this.keys.published();
    if (candidates.length === 0) throw new Error('unknown kid');
    const sig = Buffer.from(s, 'base64url');
    if (sig.length !== 64) throw new Error('bad signature');
    const data = Buffer.from(h + '.' + p);
    const ok = candidates.some((k) => crypto.verify('sha256', data, { key: k.publicKey, dsaEncoding: 'ieee-p1363' }, sig));
    if (!ok) throw new Error('bad signature');
    const iss = typeof payload.iss === 'string' ? payload.iss.replace(/\/$/, '') : null;
    if (iss !== this.config.issuer.replace(/\/$/, '')) throw new Error('wrong issuer');
    if (!o.ignoreExpiry && !(typeof payload.exp === 'number' && payload.exp > this.clock.now())) throw new Error('expired');
    if (o.audience !== undefined && payload.aud !== o.audience) throw new Error('wrong audience');
    return payload;
  }

  /** Access-token claims in the order of spec §3.3, then custom claims. */
  accessClaims(project, user, s, iat, ttl) {
    return {
      sub: user.ID,
      client_user_id: user.client_user_id,
      authentication_method: s.auth_method,
      type: 'client_access_token',
      identifier: user.identifier,
      scope: 'access',
      aud: project.api_key_id,
      exp: iat + ttl,
      iat,
      jti: crypto.randomUUID(),
      iss: this.config.issuer,
      ...s.custom_claims,
    };
  }

  /** ID-token claims (spec §3.4): auth_time is a string. */
  idClaims(project, user, s, iat, ttl) {
    return {
      sub: user.ID,
      client_user_id: user.client_user_id,
      auth_time: String(s.auth_time),
      identifier: user.identifier,
      type: 'client_id_token',
      aud: project.api_key_id,
      exp: iat + ttl,
      iat,
      jti: crypto.randomUUID(),
      iss: this.config.issuer,
      ...s.custom_claims,
    };
  }

  /**
   * Issue a full `oauth_token` (spec §3.1) for a session `s` = {auth_method, auth_time,
   * custom_claims}, creating a new refresh token row.
   */
  issue(project, user, s) {
    return this._signOauth(this._prepareOauth(project, user, s, null));
  }

  /**
   * issue() for the token grants, with the two ES256 signatures deferred to a batch: the
   * responses of every grant handled in one event-loop turn are signed back to back in one
   * setImmediate. OpenSSL's constant-time P-256 signing scans a ~150 KB precomputed table, and
   * the HTTP work between two requests pushes it out of cache: in the server a signature cost
   * 45-60 µs, against ~36 µs when signatures follow each other (README "Measured throughput").
   * Everything with an effect (the TTL override, the new refresh-token row, iat and jti) still
   * happens now, in request order; only the signing waits, for at most one loop turn.
   * @returns {Promise<object>} the oauth_token
   */
  issueBatched(project, user, s, rotated = null) {
    const prepared = this._prepareOauth(project, user, s, rotated);
    return new Promise((resolve, reject) => {
      this._batch.push(() => {
        try { resolve(this._signOauth(prepared)); } catch (e) { reject(e); }
      });
      if (this._batch.length === 1) setImmediate(this._signBatch);
      else if (this._batch.length >= MAX_SIGN_BATCH) this._signBatch(); // bounded wait; the immediate finds an empty batch
    });
  }

  /** Everything of an oauth_token that has an effect or reads the clock: done when the request arrives. */
  _prepareOauth(project, user, s, rotated) {
    const iat = this.clock.now();
    const ttl = this.store.takeTtlOverride(user.ID) ?? this.config.accessTtl;
    const refresh = this.store.createRefreshToken(project.api_key_id, user.ID, s, rotated);
    return {
      key: this.keys.current, ttl, refresh, auth_method: s.auth_method,
      access: this.accessClaims(project, user, s, iat, ttl), id: this.idClaims(project, user, s, iat, ttl),
    };
  }

  _signOauth(p) {
    return {
      access_token: this.signJwt(p.access, p.key),
      auth_method: p.auth_method,
      expires_in: p.ttl,
      id_token: this.signJwt(p.id, p.key),
      refresh_token: p.refresh,
      token_type: 'Bearer',
    };
  }

  // ---- Identity token (spec §4.1) -------------------------------------------------------

  identityToken(project, user, expireAt) {
    const now = this.clock.now();
    const t = {
      expire_at: String(expireAt ?? now + 30 * 86400),
      identifier: user.identifier,
      identifier_id: user.identifier_id,
      identifier_type: user.identifier_type,
      receiver: project.api_key_id,
      signature: '',
      timestamp: String(now),
    };
    t.signature = this.keys.signEd25519(t.identifier + t.identifier_type + t.receiver + t.expire_at);
    return t;
  }

  /** Check an identity token for `apiKeyId`; throws HttpError. */
  checkIdentityToken(t, apiKeyId) {
    if (!isPlainObject(t)) throw new HttpError(400, 'identity_token must be an object');
    for (const f of ['expire_at', 'identifier', 'identifier_type', 'receiver', 'signature']) {
      if (typeof t[f] !== 'string' || t[f] === '') throw new HttpError(400, `identity_token.${f} is required`);
    }
    // The signed message has no separators, so bytes could move between identifier and type under the same
    // signature ("a@example.com"+"EMAIL" = "a@example.comE"+"MAIL"): a fixed type closes that, as the C verifier does.
    if (t.identifier_type !== 'EMAIL' && t.identifier_type !== 'PHONE') {
      throw new HttpError(400, 'identity_token.identifier_type must be EMAIL or PHONE');
    }
    if (!this.keys.verifyEd25519(t.identifier + t.identifier_type + t.receiver + t.expire_at, t.signature)) {
      throw new HttpError(400, 'identity token signature is not valid');
    }
    if (t.receiver !== apiKeyId) throw new HttpError(403, 'identity token receiver does not match API_KEY_ID');
    if (!/^\d+$/.test(t.expire_at) || Number(t.expire_at) <= this.clock.now()) throw new HttpError(400, 'identity token is expired');
  }

  // ---- Event token (spec §4.2) ----------------------------------------------------------

  static eventMessage(e) {
    return `${e.client_user_id}${e.issuer}${e.event}${e.timestamp}${e.method}${e.new}${e.approved}`;
  }

  eventToken(project, user, o = {}) {
    const nowMs = this.clock.nowMs();
    const iso = new Date(nowMs).toISOString();
    const e = {
      CreatedAt: iso,
      DeletedAt: null,
      ID: this.store.nextEventId(),
      UpdatedAt: iso,
      approved: o.approved ?? true,
      client_user_id: user.client_user_id,
      event: o.event || 'LOGIN',
      ip: o.ip || '127.0.0.1',
      issuer: project.api_key_id,
      location: o.location || 'Unknown',
      method: o.method || 'TRUSTED_DEVICE',
      new: o.new ?? false,
      signature: '',
      timestamp: String(o.timestamp ?? Math.floor(nowMs / 1000)),
      user_id: user.ID,
    };
    return this.signEvent(e);
  }

  /** (Re)sign an event object with the emulator's Ed25519 key (after an approval changes it). */
  signEvent(e) {
    e.signature = this.keys.signEd25519(Tokens.eventMessage(e));
    return e;
  }

  /** Check an event token for `apiKeyId`; throws HttpError. */
  checkEventToken(e, apiKeyId) {
    if (!isPlainObject(e)) throw new HttpError(400, 'event_token must be an object');
    for (const f of ['client_user_id', 'issuer', 'event', 'timestamp', 'method', 'signature']) {
      if (typeof e[f] !== 'string' || e[f] === '') throw new HttpError(400, `event_token.${f} is required`);
    }
    if (typeof e.new !== 'boolean' || typeof e.approved !== 'boolean') throw new HttpError(400, 'event_token.new and event_token.approved must be booleans');
    if (!this.keys.verifyEd25519(Tokens.eventMessage(e), e.signature)) throw new HttpError(400, 'event token signature is not valid');
    if (e.issuer !== apiKeyId) throw new HttpError(403, 'event token issuer does not match API_KEY_ID');
    if (!e.approved) throw new HttpError(403, 'event was not approved');
    const age = this.clock.now() - Number(e.timestamp);
    if (!/^\d+$/.test(e.timestamp) || age > this.config.eventTokenMaxAge || age < -60) throw new HttpError(400, 'event token is expired');
  }
}

module.exports = { Tokens, RESERVED_CLAIMS, oauthJson, MAX_SIGN_BATCH };
