'use strict';
/**
 * @file config.js
 * @brief Options: defaults, environment, and the command line (`--access-ttl 60` → accessTtl).
 */
const { DEFAULT_KID } = require('./keys');

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  dataDir: null,
  tls: false,
  apiKeyId: null, // null: reuse the saved default project, or create one with a random UUID
  apiSecretKey: null,
  issuer: 'https://www.cotter.app',
  accessTtl: 3600, // spec §3.3: exp = iat + 3600
  refreshTtl: 30 * 86400, // sessions last 30 days (D-EMAILPHONE)
  kid: DEFAULT_KID,
  jwksMaxAge: 300,
  keyGrace: 86400, // a rotated-out key stays in the JWKS this long
  allowedUrls: ['http://localhost:*', 'http://127.0.0.1:*', 'http://[::1]:*'],
  fixedOtp: null,
  otpRateLimit: 10, // sends per identifier per 5 minutes (D-RATE says 5 for SMS; tests send more)
  eventTokenMaxAge: 600,
  maxBodyBytes: 1024 * 1024,
  // Used/revoked refresh tokens are remembered so that a reuse gets the precise "already used" answer; beyond
  // this many the oldest is forgotten (then rejected as unknown), so a long-running emulator stays bounded.
  maxRetiredRefreshTokens: 100000,
  // RFC 9700 §4.14.2: a rotated refresh token presented again revokes its whole family (every token of that
  // login), except the immediately previous one, once, within this many seconds of its rotation (as Cognito's
  // RetryGracePeriodSeconds and Auth0's rotation overlap period); 0 = no grace.
  refreshReuseGrace: 0,
  allowedHosts: [], // Host names served besides localhost, 127.0.0.1, [::1] and the bound address
  devToken: null, // null: a random one, printed as dev_token
  verbose: false,
};

/** CLI flag → [option name, type]. */
const FLAGS = {
  '--port': ['port', 'int'],
  '--host': ['host', 'str'],
  '--data': ['dataDir', 'str'],
  '--tls': ['tls', 'bool'],
  '--api-key-id': ['apiKeyId', 'str'],
  '--api-secret-key': ['apiSecretKey', 'str'],
  '--issuer': ['issuer', 'str'],
  '--access-ttl': ['accessTtl', 'int'],
  '--refresh-ttl': ['refreshTtl', 'int'],
  '--kid': ['kid', 'str'],
  '--jwks-max-age': ['jwksMaxAge', 'int'],
  '--key-grace': ['keyGrace', 'int'],
  '--allowed-url': ['allowedUrls', 'list'],
  '--otp': ['fixedOtp', 'str'],
  '--otp-rate-limit': ['otpRateLimit', 'int'],
  '--event-token-max-age': ['eventTokenMaxAge', 'int'],
  '--max-body-bytes': ['maxBodyBytes', 'int'],
  '--max-retired-refresh-tokens': ['maxRetiredRefreshTokens', 'int'],
  '--refresh-reuse-grace': ['refreshReuseGrace', 'int'],
  '--allowed-host': ['allowedHosts', 'list'],
  '--dev-token': ['devToken', 'str'],
  '--verbose': ['verbose', 'bool'],
};

const USAGE = `Usage: cotter-emulator [options]
  --port N              listen port (0 = any free port; default 0)
  --host H              listen address (default 127.0.0.1; any other than loopback is reachable from the network)
  --allowed-host NAME   also serve requests whose Host is NAME (repeatable; by default only localhost,
                        127.0.0.1, [::1] and the --host address: a DNS-rebinding defence)
  --dev-token T         the token the dev API requires in X-Cotter-Dev-Token (default random, printed as
                        dev_token; env COTTER_EMULATOR_DEV_TOKEN; 16+ printable ASCII characters)
  --data DIR            persist projects, users, refresh/social tokens and keys in DIR
  --tls                 serve HTTPS (HTTP/2, and HTTP/1.1 for clients without h2) with a generated
                        local CA (path printed as ca_file)
  --api-key-id ID       default project's API key id (UUID; env COTTER_EMULATOR_API_KEY_ID)
  --api-secret-key S    default project's secret (env COTTER_EMULATOR_API_SECRET_KEY)
  --issuer URL          JWT iss (default https://www.cotter.app)
  --access-ttl SECONDS  access/id token lifetime (default 3600)
  --refresh-ttl SECONDS refresh token lifetime (default 2592000)
  --kid KID             kid of the first signing key
  --jwks-max-age S      Cache-Control max-age of the JWKS (default 300)
  --key-grace S         seconds a rotated-out key stays in the JWKS (default 86400)
  --allowed-url URL     extra allowed redirect URL for the default project (repeatable; port * = any)
  --otp CODE            use this fixed OTP instead of random ones
  --otp-rate-limit N    OTP sends per identifier per 5 minutes (default 10)
  --max-body-bytes N    request body cap (default 1048576)
  --max-retired-refresh-tokens N
                        used/revoked refresh tokens remembered for "already used" answers (default 100000)
  --refresh-reuse-grace SECONDS
                        reuse of a rotated refresh token revokes its whole login, except the immediately
                        previous token, once, within SECONDS of its rotation (default 0: no grace)
  --verbose             log requests to stderr
`;

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline = null;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { inline = a.slice(eq + 1); a = a.slice(0, eq); }
    if (a === '--help' || a === '-h') return { help: true };
    const f = FLAGS[a];
    if (!f) throw new Error(`unknown option ${a}`);
    const [name, type] = f;
    if (type === 'bool') { o[name] = inline === null ? true : inline !== 'false'; continue; }
    const v = inline !== null ? inline : argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (type === 'int') {
      if (!/^-?\d+$/.test(v)) throw new Error(`${a} must be an integer`);
      o[name] = Number(v);
    } else if (type === 'list') (o[name] = o[name] || []).push(v);
    else o[name] = v;
  }
  return o;
}

/** Merge defaults, environment and explicit options (explicit wins). */
function resolve(opts = {}, env = process.env) {
  const c = { ...DEFAULTS };
  if (env.COTTER_EMULATOR_API_KEY_ID) c.apiKeyId = env.COTTER_EMULATOR_API_KEY_ID;
  if (env.COTTER_EMULATOR_API_SECRET_KEY) c.apiSecretKey = env.COTTER_EMULATOR_API_SECRET_KEY;
  if (env.COTTER_EMULATOR_DEV_TOKEN) c.devToken = env.COTTER_EMULATOR_DEV_TOKEN;
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    if (k === 'allowedUrls') c.allowedUrls = [...DEFAULTS.allowedUrls, ...v];
    else c[k] = v;
  }
  if (c.apiKeyId && !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(c.apiKeyId)) {
    throw new Error('api key id must be a UUID');
  }
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) throw new Error('port must be 0..65535');
  for (const k of ['accessTtl', 'refreshTtl', 'maxBodyBytes', 'jwksMaxAge', 'otpRateLimit', 'maxRetiredRefreshTokens']) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`${k} must be a positive integer`);
  }
  if (!Number.isInteger(c.refreshReuseGrace) || c.refreshReuseGrace < 0 || c.refreshReuseGrace > 86400) {
    throw new Error('refreshReuseGrace must be an integer number of seconds in 0..86400');
  }
  if (c.devToken !== null && !(typeof c.devToken === 'string' && /^[\x21-\x7e]{16,256}$/.test(c.devToken))) {
    throw new Error('the dev token must be 16..256 printable ASCII characters (no spaces)');
  }
  if (!Array.isArray(c.allowedHosts) || !c.allowedHosts.every((h) => typeof h === 'string' && /^[A-Za-z0-9.:[\]_-]{1,253}$/.test(h))) {
    throw new Error('allowed hosts must be host names or IP addresses (no port, no scheme)');
  }
  return c;
}

module.exports = { DEFAULTS, parseArgs, resolve, USAGE };
