'use strict';
/**
 * @file node/lib/compat.js
 * @brief Drop-ins for Cotter's old Node helpers (spec §5.3): `CotterValidateJWT` of cotter-node and the
 * `CotterJwtToken` / `CotterAccessToken` / `CotterIDToken` getter classes of cotter-token-js.
 *
 * Differences from the originals, all on the safe side:
 *  - CotterValidateJWT checks `aud` (your API key id) and `iss` besides the ES256 signature and `exp`, and selects
 *    the key by `kid` from a JWKS that is refetched when it ages (the original cached one hard-coded kid forever).
 *  - The token classes hold VERIFIED claims only: construction verifies the token and throws a CotterError when it
 *    is invalid (the originals base64-decoded any string, and gave `{}` for garbage).
 * Configuration: an options object ({ audience, issuer, baseUrl | jwksUrl | jwks, caFile, leeway } or a
 * `verifier`), else the environment: COTTER_API_KEY_ID (audience), COTTER_BASE_URL (default Cotter's),
 * COTTER_CA_FILE. The library reads these variables (the Verifier's `fromEnvironment`), once per key-set URL: the
 * verifier it builds is kept for the life of the process, as the original kept its key.
 */

const native = require('./native');

let lib;
function cotter() {
  if (!lib) lib = require('./index'); // lazily: index.js re-exports this module
  return lib;
}

// One verifier per configuration, kept for the life of the process (the original cached its key the same way).
// Bounded, oldest evicted: a configuration built from request data must not grow memory without limit.
const verifiers = new Map();
const MAX_VERIFIERS = 32;

// The environment's configuration: the library reads $COTTER_API_KEY_ID and $COTTER_CA_FILE (fromEnvironment) and
// derives the key set of its base URL ($COTTER_BASE_URL, else Cotter's). A missing audience is COTTER_EINVAL from
// the Verifier, before any network use.
function envOptions() {
  return { fromEnvironment: true, jwksUrl: native.jwksUrl(null) };
}

/** The verifier for `config` (a Verifier, an options object, or undefined for the environment). */
function verifierFor(config) {
  const { Verifier } = cotter();
  if (config instanceof Verifier) return config;
  if (config !== undefined && (config === null || typeof config !== 'object')) {
    throw new TypeError('cotter compat: the second argument must be a Verifier or an options object');
  }
  if (config && config.verifier !== undefined) {
    if (!(config.verifier instanceof Verifier)) throw new TypeError('cotter compat: verifier must be a Verifier');
    return config.verifier;
  }
  const opts = config || envOptions();
  const key = JSON.stringify(Object.keys(opts).sort().map((k) => [k, opts[k]]));
  let v = verifiers.get(key);
  if (v) {
    verifiers.delete(key); // most recently used last
  } else {
    v = new Verifier(opts);
    if (verifiers.size >= MAX_VERIFIERS) {
      const [oldestKey, oldest] = verifiers.entries().next().value;
      verifiers.delete(oldestKey);
      oldest.close(); // frees it once calls in flight settle
    }
  }
  verifiers.set(key, v);
  return v;
}

/**
 * cotter-node's `CotterValidateJWT(token)`: resolves to true when the token verifies, false when it does not or
 * when the keys cannot be fetched (the original never rejected since 0.1.2). Rejects only for a missing
 * configuration (no audience) or an invalid options object.
 */
async function CotterValidateJWT(token, config) {
  const verifier = verifierFor(config);
  if (typeof token !== 'string' || token === '') return false;
  try {
    await verifier.verify(token);
    return true;
  } catch (err) {
    if (err instanceof cotter().CotterError) return false;
    throw err;
  }
}

/** cotter-token-js's base class, over claims that were verified. */
class CotterJwtToken {
  /**
   * Verifies `token` now (synchronously: the first use of a remote JWKS fetches it on this thread) and keeps its
   * claims. Throws a CotterError when the token is invalid. Prefer `await Class.verify(token, config)` in servers.
   */
  constructor(token, config) {
    if (typeof token !== 'string') throw new TypeError('token must be a string');
    const claims = config && config[VERIFIED] ? config[VERIFIED] : verifierFor(config).verifySync(token);
    Object.defineProperty(this, 'token', { value: token, enumerable: false });
    this.payload = Object.freeze({ ...claims });
    Object.freeze(this);
  }

  /** Verifies off the event loop (verifier.verify), then builds the object. */
  static async verify(token, config) {
    if (typeof token !== 'string') throw new TypeError('token must be a string');
    const claims = await verifierFor(config).verify(token);
    return new this(token, { [VERIFIED]: claims });
  }

  getExpiration() { return this.payload.exp; }
  getIssuedAt() { return this.payload.iat; }
  getAudience() { return this.payload.aud; }

  // The token is a bearer credential: inspection and JSON show only the claims.
  toJSON() { return { payload: this.payload }; }
  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    return `${this.constructor.name} ${inspect({ payload: this.payload }, options)}`;
  }
}
// Private marker: the claims handed from `verify()` to the constructor (not reachable by callers).
const VERIFIED = Symbol('verified claims');

class CotterAccessToken extends CotterJwtToken {
  getAuthMethod() { return this.payload.authentication_method; }
  getScope() { return this.payload.scope; }
  getID() { return this.payload.sub; }
  getIdentifier() { return this.payload.identifier; }
  /** @deprecated as in cotter-token-js */
  getClientUserID() { return this.payload.client_user_id; }
}

class CotterIDToken extends CotterJwtToken {
  getAuthTime() { return this.payload.auth_time; }
  getIdentifier() { return this.payload.identifier; }
  getID() { return this.payload.sub; }
  getClientUserID() { return this.payload.client_user_id; }
}

module.exports = { CotterValidateJWT, CotterJwtToken, CotterAccessToken, CotterIDToken };
