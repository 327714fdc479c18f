/**
 * @file node/lib/index.d.ts
 * @brief Types of cotter-native (node/lib/index.js). Checked by `tsc --strict` on node/examples/*.ts.
 */
/* BEGIN GENERATED status codes (scripts/gen.py from capi/abi.json; do not edit) */
/** The stable C ABI status names (capi/include/cotter.h). */
export type CotterErrorCode =
  | 'COTTER_EINVAL' | 'COTTER_ENOMEM' | 'COTTER_ENETWORK' | 'COTTER_ETIMEOUT' | 'COTTER_ETLS' | 'COTTER_EHTTP'
  | 'COTTER_EOAUTH' | 'COTTER_EPROTOCOL' | 'COTTER_EUSER' | 'COTTER_EINTERNAL' | 'COTTER_EREAUTH' | 'COTTER_ESTORAGE'
  | 'COTTER_ENOTFOUND' | 'COTTER_ESTATE' | 'COTTER_ECANCELED' | 'COTTER_ECREDENTIALS' | 'COTTER_ESHARED_UNAVAILABLE'
  | 'COTTER_EJWT_MALFORMED' | 'COTTER_EJWT_ALG' | 'COTTER_EJWT_HEADER' | 'COTTER_EJWT_CRIT' | 'COTTER_EJWT_DUPLICATE'
  | 'COTTER_EJWT_KEY_NOT_FOUND' | 'COTTER_EJWT_KEY_MISMATCH' | 'COTTER_EJWT_SIGNATURE' | 'COTTER_EJWT_CLAIM_TYPE'
  | 'COTTER_EJWT_ISSUER' | 'COTTER_EJWT_AUDIENCE' | 'COTTER_EJWT_EXPIRED' | 'COTTER_EJWT_NOT_YET_VALID'
  | 'COTTER_EJWT_MISSING_CLAIM' | 'COTTER_EJWKS_INVALID' | 'COTTER_EJWKS_UNAVAILABLE' | 'COTTER_ELEGACY_SIGNATURE'
  | 'COTTER_ELEGACY_CLAIM';
/* END GENERATED status codes */

/**
 * Every failure of this package. Messages never carry a secret or a token. A call cancelled through its
 * AbortSignal rejects with name 'AbortError' (as fetch and Node's own APIs do), code 'COTTER_ECANCELED', and
 * `cause` = the signal's reason.
 */
export class CotterError extends Error {
  constructor(message: string, details?: Partial<CotterErrorDetails>);
  readonly name: 'CotterError' | 'AbortError';
  /** The stable code name, e.g. 'COTTER_EJWT_EXPIRED'. */
  readonly code: CotterErrorCode;
  /** The negative status number of `code`. */
  readonly status: number;
  /** HTTP status of the response involved; 0 when none. */
  readonly httpStatus: number;
  /** The server's error kind (RFC 6749 `error` or Cotter's `type`). */
  readonly oauthError: string | null;
  /** The server's error text (`msg` / `error_description`). */
  readonly oauthErrorDescription: string | null;
  /** Retry-After of the response, in seconds. */
  readonly retryAfter: number | null;
}

export interface CotterErrorDetails {
  code: CotterErrorCode;
  status: number;
  httpStatus: number;
  oauthError: string | null;
  oauthErrorDescription: string | null;
  retryAfter: number | null;
}

/**
 * The last argument of every asynchronous method. `signal` cancels the call at whatever stage it is (an aborted
 * signal rejects at once, starting nothing); `timeoutMs` (1..86400000) is the call's total budget, queueing and
 * retries included (default: the client's `timeoutMs`), after which it rejects with COTTER_ETIMEOUT.
 */
export interface CallOptions {
  signal?: AbortSignal | null;
  timeoutMs?: number | null;
}

/** Status numbers by name, e.g. codes.COTTER_EJWT_EXPIRED === -31. */
export const codes: Readonly<Record<CotterErrorCode | 'COTTER_OK', number>>;

// ------------------------------------------------------------------------------------------------
// Verification
// ------------------------------------------------------------------------------------------------

/** A JSON Web Key Set. */
export interface Jwks {
  keys: Array<Record<string, unknown>>;
}

export interface VerifierOptions {
  /** Required (with fromEnvironment: omitted = COTTER_API_KEY_ID): your API key id; `aud` must contain it. */
  audience?: string;
  /** Expected `iss`. Default 'https://www.cotter.app'. */
  issuer?: string;
  /** A static key set (object or JSON text): no network. One of jwks, jwksUrl, baseUrl. */
  jwks?: Jwks | string;
  /** A remote key set (https, or http to a loopback host). */
  jwksUrl?: string;
  /** Cotter's API base: the key set is `<baseUrl>/token/jwks`. */
  baseUrl?: string;
  /** Clock skew allowed for exp/nbf/iat, seconds (0..300). Default 5. */
  leeway?: number;
  /** Verified-token cache entries; 0 (default) = off. */
  tokenCache?: number;
  /** PEM CA bundle for the key-set fetch. Default: the system store (with fromEnvironment: COTTER_CA_FILE first). */
  caFile?: string;
  /** true: the library reads an omitted audience from COTTER_API_KEY_ID and an omitted caFile from COTTER_CA_FILE (what the compat helpers pass). Default false: the environment is never read. */
  fromEnvironment?: boolean;
  /** A fixed clock for tests, Unix seconds (see Verifier.setNow). */
  now?: number;
  jwksMaxAgeMs?: number;
  jwksCooldownMs?: number;
  jwksTimeoutMs?: number;
  jwksMaxBytes?: number;
  /** The library's log lines (key-set fetches, failures), delivered on the event loop. Never carry secrets. */
  log?: LogFunction;
}

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';
export type LogFunction = (level: LogLevel, message: string) => void;

/** The verified payload: every claim as signed, custom ones included. */
export interface Claims {
  sub?: string;
  iss?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  nbf?: number;
  jti?: string;
  identifier?: string;
  client_user_id?: string;
  authentication_method?: string;
  type?: string;
  scope?: string;
  auth_time?: string;
  [claim: string]: unknown;
}

/** ES256 verifier of Cotter's access and ID tokens. Thread-safe; share one per process. */
export class Verifier {
  constructor(options: VerifierOptions);
  /** Verifies on the calling thread. Throws CotterError (COTTER_EJWT_*, COTTER_EJWKS_*). */
  verifySync(token: string | Uint8Array): Claims;
  /** Verdict only, without building claims: true, or throws CotterError. */
  checkSync(token: string | Uint8Array): true;
  /** Verifies off the event loop (CPU work, on the addon's verify threads). An abort of `signal` rejects at once (AbortError). */
  verify(token: string | Uint8Array, options?: { signal?: AbortSignal | null }): Promise<Claims>;
  /** Fetches the remote key set now, on a client I/O thread. */
  refresh(options?: CallOptions): Promise<void>;
  /** Moves the test clock (verifiers created with `now` only). */
  setNow(now: number): void;
  /** Frees the verifier once calls in flight settle. */
  close(): void;
}

// ------------------------------------------------------------------------------------------------
// Results
// ------------------------------------------------------------------------------------------------

/** Cotter's `oauth_token` object as sent and stored (snake_case). */
export interface OAuthToken {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  token_type?: string;
  auth_method?: string;
  expires_in?: number;
}

/** An oauth token set. The three tokens are secrets: inspect/JSON show them as '[redacted]'. */
export class Token {
  private constructor();
  readonly accessToken: string | null;
  readonly idToken: string | null;
  readonly refreshToken: string | null;
  readonly tokenType: string | null;
  readonly authMethod: string | null;
  readonly expiresIn: number;
  /** `exp` of the access token read WITHOUT verification (scheduling only); 0 when unknown. */
  readonly expiresAt: number;
  /** The six-key oauth_token object, secrets included. */
  toOAuthToken(): OAuthToken;
  /** Parses an oauth_token object or its JSON text. */
  static from(value: OAuthToken | string): Token;
  toJSON(): Record<string, string | number | null>;
}

// BEGIN GENERATED records (scripts/gen.py from capi/abi.json; do not edit)
/** A Cotter user object (spec §2.10) as the server sent it, unknown members kept. */
export class User {
  private constructor();
  /** Cotter's user id. */
  readonly id: string;
  /** The project's API key id. */
  readonly issuer: string | null;
  /** Your own id for the user. */
  readonly clientUserId: string | null;
  /** Email or phone number. */
  readonly identifier: string | null;
  /** Default authentication method. */
  readonly defaultMethod: string | null;
  /** Creation time, as sent. */
  readonly createdAt: string | null;
  /** Enrolled authentication methods (empty when absent). */
  readonly enrolled: string[];
  /** The whole object as the API sent it. */
  readonly raw: Record<string, unknown>;
}

/** A social-login provider token record (spec §2.12) as the server sent it; holds the provider's token. */
export class SocialToken {
  private constructor();
  /** GITHUB, GOOGLE... */
  readonly provider: string;
  /** The user's id at the provider. */
  readonly providerUserId: string | null;
  /** The user's name at the provider. */
  readonly providerUsername: string | null;
  /** Cotter's user id. */
  readonly userId: string | null;
  /** The provider's access token (a secret). Hidden from inspect and JSON. */
  readonly accessToken: string | null;
  /** Granted scope. */
  readonly scope: string | null;
  /** Token type. */
  readonly tokenType: string | null;
  /** The whole object as the API sent it (holds secrets). */
  readonly raw: Record<string, unknown>;
  toJSON(): Record<string, unknown>;
}

/** The get_identity response (spec §2.9), as the server sent it: who logged in, their token set and the Identity Token. */
export class Identity {
  private constructor();
  /** Email or phone number. */
  readonly identifier: string | null;
  /** EMAIL or PHONE. */
  readonly identifierType: string | null;
  /** Cotter's user id. */
  readonly userId: string | null;
  /** The user's oauth token set (each binding's token type). */
  readonly token: Token | null;
  /** The Ed25519 Identity Token object, for the identity_token grant and its verification. Hidden from inspect and JSON. */
  readonly identityToken: IdentityToken | null;
  /** The user object, as sent. */
  readonly user: Record<string, unknown> | null;
  /** The whole object as the API sent it (holds secrets). */
  readonly raw: Record<string, unknown>;
  toJSON(): Record<string, unknown>;
}
// END GENERATED records

/** Cotter's signed Identity Token object (spec §4). */
export interface IdentityToken {
  identifier: string;
  identifier_type: string;
  receiver: string;
  expire_at: string;
  signature: string;
  [field: string]: unknown;
}

/** Cotter's signed Event Token object. */
export interface EventToken {
  client_user_id: string;
  issuer: string;
  event: string;
  timestamp: string;
  method: string;
  new: boolean;
  approved: boolean;
  signature: string;
  [field: string]: unknown;
}

/** A trusted-device event as createPendingEvent / getEvent return it (spec §2.11). */
export interface CotterEvent extends EventToken {
  ID: number;
  /** The user's tokens: only from getEvent with the request's codeVerifier, once the event is approved. */
  oauth_token?: { access_token: string; id_token?: string; refresh_token?: string; token_type?: string;
    expires_in?: number; auth_method?: string };
}

export interface CustomClaimsResult {
  /** The new JWT. */
  readonly token: string;
  /** With a refresh token given: the special one that keeps the claims. */
  readonly refreshToken: string | null;
}

export interface RemoteVerdict {
  valid: boolean;
  reason: string | null;
}

export interface ClientStats {
  requests: number;
  connections: number;
  retries: number;
}

// ------------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------------

export interface ClientOptions {
  /** Required. */
  apiKeyId: string;
  /** Needed by server-side calls (grants, custom claims, users list, social tokens). Never logged or shown. */
  apiSecretKey?: string;
  /** Default $COTTER_BASE_URL, else 'https://www.cotter.app/api/v0'. */
  baseUrl?: string;
  /** Serverless verify endpoint. Default $COTTER_WORKER_URL, else Cotter's. */
  workerUrl?: string;
  caFile?: string;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  /** Retries of idempotent requests (GET, DELETE). Grants and refreshes are never retried. */
  maxRetries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  maxResponseBytes?: number;
  /** Open connections per host; further requests queue for one. 0 (default) = no cap. */
  maxHostConnections?: number;
  /** The library's log lines (requests, retries, failures), delivered on the event loop. Never carry secrets. */
  log?: LogFunction;
}

export interface GetIdentityOptions {
  code: string;
  challengeId: number;
  codeVerifier: string;
  redirectUrl: string;
}

export interface SocialTokens {
  list(userId: string, options?: CallOptions): Promise<SocialToken[]>;
  get(provider: string, userId: string, options?: CallOptions): Promise<SocialToken>;
  delete(provider: string, userId: string, options?: CallOptions): Promise<void>;
}

/**
 * A connection to Cotter's API. Every call returns a Promise; requests run on the client's own I/O thread (never
 * the libuv pool), any number at once.
 */
export class Client {
  constructor(options: ClientOptions);
  readonly apiKeyId: string;
  readonly baseUrl: string;
  readonly socialTokens: SocialTokens;
  stats(): ClientStats;
  // BEGIN GENERATED client calls (scripts/gen.py from capi/abi.json; do not edit)
  /** Exchanges an Identity Token (JSON object) for an oauth token set. */
  exchangeIdentityToken(identityToken: IdentityToken | string, options?: CallOptions): Promise<Token>;
  /** Exchanges an Event Token (JSON object) for an oauth token set. */
  exchangeEventToken(eventToken: EventToken | string, options?: CallOptions): Promise<Token>;
  /** POST /token/<api_key_id> with a refresh token. */
  refresh(refreshToken: string, options?: CallOptions): Promise<Token>;
  /** DELETE /token/<api_key_id>: ends the server session of `refresh_token` (may be null or omitted). */
  logout(refreshToken?: string | null, options?: CallOptions): Promise<void>;
  /** POST /token/custom: a new token carrying `custom_attributes_json` (a JSON object) as top-level claims. */
  customClaims(token: string, customAttributes: Record<string, unknown> | string, refreshToken?: string | null,
    options?: CallOptions): Promise<CustomClaimsResult>;
  /** POST /user/create. */
  createUser(identifier: string, options?: CallOptions): Promise<User>;
  /** GET /user?identifier=. */
  getUser(identifier: string, options?: CallOptions): Promise<User>;
  /** GET /user/:id (needs the secret). */
  getUserById(userId: string, options?: CallOptions): Promise<User>;
  /** GET /user/list?page=N (50 per page, newest first; needs the secret). */
  listUsers(page?: number, options?: CallOptions): Promise<User[]>;
  /** GET /oauth/token/list/:cotter_user_id (needs the secret). */
  listSocialTokens(userId: string, options?: CallOptions): Promise<SocialToken[]>;
  /** GET /oauth/token/:provider/:cotter_user_id. */
  getSocialToken(provider: string, userId: string, options?: CallOptions): Promise<SocialToken>;
  /** DELETE /oauth/token/:provider/:cotter_user_id. */
  deleteSocialToken(provider: string, userId: string, options?: CallOptions): Promise<void>;
  /** POST <worker_url> (Cotter's serverless verifier, spec §2.7) with the access token. */
  verifyRemote(accessToken: string | Uint8Array, options?: CallOptions): Promise<RemoteVerdict>;
  // END GENERATED client calls
  getIdentity(identity: GetIdentityOptions, options?: CallOptions): Promise<Identity>;
  /** Asks the user's trusted device to approve `event` (default LOGIN); with codeChallenge, tokens need its verifier. */
  createPendingEvent(clientUserId: string, event?: string,
    options?: CallOptions & { codeChallenge?: string | null }): Promise<CotterEvent>;
  /** Polls an event; with codeVerifier an approved event carries oauth_token (once). COTTER_ENOTFOUND when none. */
  getEvent(eventId: number, options?: CallOptions & { codeVerifier?: string | null }): Promise<CotterEvent>;
  /** Later calls reject with COTTER_EINVAL; calls in flight and sessions on the client go on. */
  close(): void;
}

// ------------------------------------------------------------------------------------------------
// Sessions
// ------------------------------------------------------------------------------------------------

export interface TokenSessionOptions {
  /** Token file (six-key oauth_token JSON, mode 0600, atomic replace, locked across processes). */
  file?: string;
  /** Custom storage: the stored oauth_token (object or JSON), or null. May be async. */
  load?: () => OAuthToken | string | null | undefined | Promise<OAuthToken | string | null | undefined>;
  /** Custom storage: store the JSON text, or delete when null. May be async. */
  save?: (json: string | null) => void | Promise<void>;
  /** Initial tokens; replaces what storage holds. */
  token?: Token | OAuthToken | string;
  /** Refresh when the access token expires within this many seconds. Default 30. */
  marginSeconds?: number;
  /** Called on the event loop after every change (refresh, set, logout with null). */
  onTokensChanged?: (token: Token | null) => void;
  /** Share the session with a fleet through Redis (one refresh across every replica). Excludes file, load/save. */
  sharedStore?: SharedStore;
  /** The session's id in the store, the same on every replica (1..200 printable ASCII without { }). Required with sharedStore. */
  sharedSessionId?: string;
}

/** What a SharedStore needs from a Redis client. */
export interface SharedStoreAdapter {
  /**
   * Runs `EVALSHA sha1 keys.length ...keys ...args` (on a NOSCRIPT error, `EVAL script ...`) and resolves to the
   * reply array. A rejection fails the step with COTTER_ESHARED_UNAVAILABLE.
   */
  eval(script: string, sha1: string, keys: string[], args: string[]): Promise<Array<Buffer | Uint8Array | string | number | bigint>>;
  /**
   * Optional: waits for a message on the pub/sub `channel` (the session's `...:changed`) for at most `timeoutMs`.
   * Resolves true when one arrived, false when the time passed; a rejection is a failed wait. Without it, a replica
   * that found the refresh lease held polls; with it, the holder's message wakes it (the library reads the store
   * again either way). Keep the channel subscribed while it has waiters.
   */
  wait?(channel: string, timeoutMs: number): Promise<boolean>;
}

export interface SharedStoreOptions {
  /** First part of every key (`<prefix>:{<session id>}:...`). Default 'cotter'; 1..64 printable ASCII without { }. */
  keyPrefix?: string;
  /** Lifetime of the refresh lease; a refresh request gets 3/4 of it. Default 10000; 100..600000. */
  leaseTtlMs?: number;
  /** Longest single wait of a replica that found the lease held, before it reads again. Default 100; 1..10000. */
  waitMs?: number;
}

/** Where sessions shared by a fleet keep their tokens (docs/shared-sessions.md), over any Redis client. */
export class SharedStore {
  constructor(adapter: SharedStoreAdapter, options?: SharedStoreOptions);
  /** New sessions can no longer use it; sessions using it keep it until they are closed. */
  close(): void;
}

/** The minimal surface of an ioredis `Redis` or `Cluster` client that RedisStore uses. */
export interface IoRedisLike {
  callBuffer(command: string, args: (string | Buffer | number)[]): Promise<unknown>;
}

/**
 * A SharedStore over an ioredis `Redis` or `Cluster` client (ioredis is not a dependency: pass your client). Its
 * waiters are woken by the holder's message on one more connection per store (`duplicate()`: SUBSCRIBE mode).
 */
export class RedisStore extends SharedStore {
  constructor(redis: IoRedisLike, options?: SharedStoreOptions);
}

export class TokenSession {
  constructor(client: Client, options?: TokenSessionOptions);
  /** The last token set this session saw (null before the first load and after logout). */
  readonly token: Token | null;
  // BEGIN GENERATED session calls (scripts/gen.py from capi/abi.json; do not edit)
  /** A valid access token, refreshed first when needed. */
  getAccessToken(options?: CallOptions): Promise<string>;
  /** The current token set, refreshed first when needed. */
  getToken(options?: CallOptions): Promise<Token>;
  /** Refreshes now, whatever the expiry. */
  refresh(options?: CallOptions): Promise<Token>;
  /** Replaces the token set (e.g. after a login) and stores it. */
  setToken(token: Token | OAuthToken | string, options?: CallOptions): Promise<void>;
  /** Ends the server session (best effort) and deletes stored tokens. */
  logout(options?: CallOptions): Promise<void>;
  // END GENERATED session calls
  /** Later calls reject with COTTER_EINVAL; calls already made go on. */
  close(): void;
}

// ------------------------------------------------------------------------------------------------
// Login helpers, older tokens, version
// ------------------------------------------------------------------------------------------------

export interface Pkce {
  verifier: string;
  challenge: string;
  state: string;
}

/** A fresh PKCE verifier, its S256 challenge and a state. */
export function pkce(): Pkce;
/** The S256 challenge of a verifier. */
export function pkce(verifier: string): string;

export interface LoginUrlOptions {
  apiKeyId: string;
  redirectUrl: string;
  state: string;
  codeChallenge: string;
  /** Default 'https://js.cotter.app/app'. */
  loginUrl?: string;
  identifierType?: 'EMAIL' | 'PHONE';
  authMethod?: 'OTP' | 'MAGIC_LINK';
  input?: string;
  cotterUserId?: string;
}

export function loginUrl(options: LoginUrlOptions): string;

export interface LoginRedirect {
  code: string;
  challengeId: number;
}

/** Checks a redirect (URL or query) against the state. COTTER_ESTATE on mismatch or error. */
export function parseLoginRedirect(redirect: string | URL, expectedState: string): LoginRedirect;

export interface LegacyVerifyOptions {
  /** Standard base64 Ed25519 key. Default: Cotter's published key. */
  publicKey?: string;
  /** Unix seconds (identity tokens). Default: the system clock. */
  now?: number;
}

export function verifyIdentityToken(identityToken: IdentityToken | string, apiKeyId: string, options?: LegacyVerifyOptions): true;
export function verifyEventToken(eventToken: EventToken | string, apiKeyId: string, options?: Omit<LegacyVerifyOptions, 'now'>): true;

/** "MAJOR.MINOR.PATCH" of the native library. */
export const version: string;
export const versionNumber: number;

export * from './middleware';
export * from './compat';
