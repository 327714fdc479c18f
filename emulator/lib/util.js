'use strict';
/**
 * @file util.js
 * @brief Small shared helpers: base64url, errors, time formatting, secret comparison.
 */
const crypto = require('node:crypto');

/** An error that becomes a JSON `{"msg": ..., "type": ""}` response with `status`. */
class HttpError extends Error {
  constructor(status, msg, headers) {
    super(msg);
    this.status = status;
    this.headers = headers || null;
  }
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const b64urlJson = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

// Random bytes come from a pool refilled 8 KiB at a time: one CSPRNG call per ~300 refresh
// tokens instead of one each (randomBytes was ~4% of the refresh path's CPU).
const POOL_SIZE = 8192;
let pool = Buffer.alloc(0);
let poolOff = 0;

/** Random base64url string of `bytes` random bytes (refresh secrets, codes, session ids). */
function randomToken(bytes = 32) {
  if (poolOff + bytes > pool.length) { pool = crypto.randomBytes(Math.max(POOL_SIZE, bytes)); poolOff = 0; }
  const s = pool.toString('base64url', poolOff, poolOff + bytes);
  pool.fill(0, poolOff, poolOff + bytes); // never hand out the same bytes twice, even on a bug
  poolOff += bytes;
  return s;
}

/** randomToken() that never starts with '-': a CLI (argparse, getopt) would read `--api-secret-key -abc…` as a
 * missing value followed by an option (1 random base64url string in 64 starts with '-'). */
function cliSafeToken(bytes) {
  for (;;) {
    const s = randomToken(bytes);
    if (s[0] !== '-') return s;
  }
}

// crypto.hash (Node >= 20.12) is a one-shot digest without a Hash object (about 3x cheaper on
// the refresh path); Node 18 (Debian 12) falls back to createHash.
const sha256 = typeof crypto.hash === 'function'
  ? (s) => crypto.hash('sha256', s, 'buffer')
  : (s) => crypto.createHash('sha256').update(s).digest();
/** SHA-256 as a base64url string: refresh-token rows keep this (a string costs the GC less than a Buffer). */
const sha256B64url = typeof crypto.hash === 'function'
  ? (s) => crypto.hash('sha256', s, 'base64url')
  : (s) => crypto.createHash('sha256').update(s).digest('base64url');

/** Constant-time string comparison (hash first so lengths never leak or throw). */
function safeEqual(a, b) {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  return crypto.timingSafeEqual(sha256(a), sha256(b));
}

/** Constant-time comparison of two ASCII strings of equal length (e.g. digests); false otherwise. */
function asciiEqual(a, b) {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length !== b.length) return false;
  return crypto.timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

/** Go-style RFC 3339 timestamp with microseconds, as Cotter's API printed them. */
function isoTime(unixMs) {
  return new Date(unixMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const upperUuid = () => crypto.randomUUID().toUpperCase();

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Is a listen or peer address loopback (localhost, IPv4 127/8, ::1 and IPv4-mapped loopback)? */
function isLoopback(addr) {
  if (!addr) return false;
  if (addr === '::1' || addr === 'localhost') return true;
  if (addr.startsWith('::ffff:')) addr = addr.slice(7);
  return addr.startsWith('127.');
}

module.exports = {
  HttpError, b64url, b64urlJson, randomToken, cliSafeToken, sha256, sha256B64url, safeEqual, asciiEqual, isoTime, upperUuid,
  isPlainObject, isLoopback,
};
