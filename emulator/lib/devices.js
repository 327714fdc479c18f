'use strict';
/**
 * @file devices.js
 * @brief Trusted-device keys (spec §2.11): parsing the public key a device enrols, and checking the signature it
 *        puts on an event. Two algorithms, as Cotter's SDKs used them:
 *  - `ED25519` (React Native, Flutter: tweetnacl): the key is standard base64 of the raw 32-byte public key, the
 *    signature standard base64 of the 64-byte detached signature;
 *  - `EC` (iOS: ECDSA P-256 with SHA-256): the key is base64 of the X9.63 uncompressed point (65 bytes, 04|X|Y) or of
 *    a DER SubjectPublicKeyInfo, the signature base64 of a DER ECDSA signature (or raw r|s, 64 bytes).
 * The signed message (client → server) is `{client_user_id}{API_KEY_ID}{event}{timestamp}{method}{approved}`, plus
 * `{new_device_public_key}` when the event registers a new device (spec §2.11).
 */
const crypto = require('node:crypto');
const { HttpError } = require('./util');

const ALGORITHMS = ['ED25519', 'EC'];
const B64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;

function b64(s, what) {
  if (typeof s !== 'string' || s.length === 0 || s.length > 4096 || !B64_RE.test(s)) throw new HttpError(400, `${what} must be base64`);
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/**
 * Parse a device public key; returns {algorithm, key: KeyObject, canonical: standard base64 of the key bytes}.
 * `algorithm` may be omitted (iOS sends none): a 32-byte key is ED25519, anything else EC.
 */
function parseDeviceKey(publicKey, algorithm) {
  const raw = b64(publicKey, 'public key');
  let alg = algorithm === undefined || algorithm === null || algorithm === '' ? (raw.length === 32 ? 'ED25519' : 'EC') : algorithm;
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg.toUpperCase())) throw new HttpError(400, 'algorithm must be ED25519 or EC');
  alg = alg.toUpperCase();
  let key;
  try {
    if (alg === 'ED25519') {
      if (raw.length !== 32) throw new Error('length');
      key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    } else if (raw.length === 65 && raw[0] === 4) {
      key = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'),
        y: raw.subarray(33).toString('base64url') }, format: 'jwk' });
    } else {
      key = crypto.createPublicKey({ key: raw, format: 'der', type: 'spki' });
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails.namedCurve !== 'prime256v1') throw new Error('curve');
    }
  } catch {
    throw new HttpError(400, alg === 'ED25519' ? 'public key is not a 32-byte Ed25519 key' : 'public key is not a P-256 key (X9.63 point or DER SPKI)');
  }
  return { algorithm: alg, key, canonical: raw.toString('base64') };
}

/** Does `signatureB64` sign `message` with the device key {algorithm, key}? */
function verifyDeviceSignature(device, message, signatureB64) {
  let sig;
  try { sig = b64(signatureB64, 'signature'); } catch { return false; }
  const data = Buffer.from(message, 'utf8');
  try {
    if (device.algorithm === 'ED25519') return sig.length === 64 && crypto.verify(null, data, device.key, sig);
    return crypto.verify('sha256', data, { key: device.key, dsaEncoding: sig.length === 64 ? 'ieee-p1363' : 'der' }, sig);
  } catch { return false; }
}

/** The message a device signs for an event (spec §2.11). */
function eventSigningMessage(b) {
  return `${b.client_user_id ?? b.user_id}${b.issuer}${b.event}${b.timestamp}${b.method}${b.approved}${b.register_new_device === true ? b.new_device_public_key : ''}`;
}

module.exports = { parseDeviceKey, verifyDeviceSignature, eventSigningMessage, ALGORITHMS };
