'use strict';
/**
 * @file keys.js
 * @brief The emulator's signing keys: ES256 (P-256) JWT keys with rotation, and the Ed25519
 *        key that signs the older Identity and Event tokens (spec §4).
 *
 * KeyObjects and the base64url JWT header segment are computed once per key, because the
 * refresh path signs two JWTs per request and must stay fast.
 */
const crypto = require('node:crypto');
const { b64urlJson, upperUuid } = require('./util');

/** Cotter's published kid (spec §2.6); the emulator's first key uses it by default. */
const DEFAULT_KID = 'SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9';

function makeSigningKey(kid, privatePem, createdAt, retireAt = null) {
  const privateKey = privatePem
    ? crypto.createPrivateKey(privatePem)
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const publicKey = crypto.createPublicKey(privateKey);
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    kid,
    privateKey,
    publicKey,
    createdAt,
    retireAt, // unix seconds after which the key leaves the JWKS (null = active or kept)
    headerB64: b64urlJson({ alg: 'ES256', kid, typ: 'JWT' }),
    signOptions: { key: privateKey, dsaEncoding: 'ieee-p1363' }, // JWS wants r||s, not DER
    jwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, use: 'sig', alg: 'ES256' },
    privatePem: privatePem || privateKey.export({ format: 'pem', type: 'pkcs8' }),
  };
}

class KeyRing {
  /**
   * @param {object} o  {kid, now: () => unix seconds}
   */
  constructor(o) {
    this.now = o.now;
    this.keys = [makeSigningKey(o.kid || DEFAULT_KID, null, this.now())]; // keys[0] signs
    this._setIdentityKey(null);
    this._jwksCache = null;
  }

  _setIdentityKey(pem) {
    this.identityPrivate = pem
      ? crypto.createPrivateKey(pem)
      : crypto.generateKeyPairSync('ed25519').privateKey;
    this.identityPublic = crypto.createPublicKey(this.identityPrivate);
    // Raw 32-byte public key = last 32 bytes of the SPKI DER encoding.
    const spki = this.identityPublic.export({ format: 'der', type: 'spki' });
    this.identityPublicB64 = spki.subarray(spki.length - 32).toString('base64');
  }

  get current() { return this.keys[0]; }

  /** Keys still published: the current one and those within their grace period. */
  published() {
    const now = this.now();
    const live = this.keys.filter((k) => k.retireAt === null || k.retireAt > now);
    if (live.length !== this.keys.length) { this.keys = live; this._jwksCache = null; }
    return live;
  }

  find(kid) { return this.published().find((k) => k.kid === kid) || null; }

  /** JWKS body, cached until keys change or a grace period ends. */
  jwksJson() {
    const keys = this.published();
    if (!this._jwksCache) this._jwksCache = JSON.stringify({ keys: keys.map((k) => k.jwk) });
    return this._jwksCache;
  }

  /**
   * New signing key (new kid). Old keys stay in the JWKS for `graceSeconds`, or go now if
   * `dropOld`.
   */
  rotate({ kid, graceSeconds = 86400, dropOld = false } = {}) {
    const now = this.now();
    const fresh = makeSigningKey(kid || `SPACE_JWT_PUBLIC:${upperUuid()}`, null, now);
    if (this.keys.some((k) => k.kid === fresh.kid)) throw new Error(`kid ${fresh.kid} already exists`);
    for (const k of this.keys) if (k.retireAt === null || k.retireAt > now + graceSeconds) k.retireAt = now + graceSeconds;
    this.keys = dropOld || graceSeconds <= 0 ? [fresh] : [fresh, ...this.keys];
    this._jwksCache = null;
    return fresh;
  }

  /** Remove one non-current key from the JWKS immediately. */
  drop(kid) {
    const i = this.keys.findIndex((k) => k.kid === kid);
    if (i <= 0) return false;
    this.keys.splice(i, 1);
    this._jwksCache = null;
    return true;
  }

  /** Ed25519 detached signature, standard base64 (spec §4). */
  signEd25519(message) {
    return crypto.sign(null, Buffer.from(message, 'utf8'), this.identityPrivate).toString('base64');
  }

  verifyEd25519(message, signatureB64) {
    if (typeof signatureB64 !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signatureB64)) return false;
    const sig = Buffer.from(signatureB64, 'base64');
    if (sig.length !== 64) return false;
    return crypto.verify(null, Buffer.from(message, 'utf8'), this.identityPublic, sig);
  }

  toJSON() {
    return {
      signing: this.keys.map((k) => ({ kid: k.kid, pem: k.privatePem, created_at: k.createdAt, retire_at: k.retireAt })),
      identity_pem: this.identityPrivate.export({ format: 'pem', type: 'pkcs8' }),
    };
  }

  load(saved) {
    if (!saved || !Array.isArray(saved.signing) || saved.signing.length === 0) return;
    this.keys = saved.signing.map((s) => makeSigningKey(s.kid, s.pem, s.created_at, s.retire_at));
    if (saved.identity_pem) this._setIdentityKey(saved.identity_pem);
    this._jwksCache = null;
  }
}

module.exports = { KeyRing, DEFAULT_KID };
