/**
 * @file node/lib/middleware.d.ts
 * @brief Types of requireAuth() / withAuth() (node/lib/middleware.js).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Claims, Verifier, VerifierOptions } from './index';

declare module 'node:http' {
  interface IncomingMessage {
    /** The verified claims, set by requireAuth() (with the default `property`) before `next()`. */
    auth?: Claims;
  }
}

export interface RequireAuthOptions extends Partial<VerifierOptions> {
  /** An existing verifier to use (shared; `close()` leaves it open). Otherwise one is created from the options. */
  verifier?: Verifier;
  /** `realm` of the WWW-Authenticate challenges. Default 'api'. */
  realm?: string;
  /**
   * The accepted `type` claims; `['*']` accepts any token. Default: Cotter's access tokens only (`type`
   * `client_access_token` or `access_token`, or no `type` and `access` in `scope`): an ID token is rejected.
   */
  tokenTypes?: string[] | string;
  /** Scopes the token must all have (an array, or one space-separated string); else 403 insufficient_scope. */
  requiredScopes?: string[] | string;
  /** A predicate over the verified claims; false → 401 invalid_token "claim check failed". A throw goes to next(err). */
  claimCheck?: (claims: Claims) => boolean;
  /** Default true. false: a request without credentials passes with no claims; a bad token still fails. */
  authRequired?: boolean;
  /** Retry-After of KeysUnavailableError (503) while keys cannot be fetched. Default 10. */
  retryAfterSeconds?: number;
  /** The request property that receives the claims. Default 'auth'. */
  property?: string;
}

/**
 * The request lacks valid Bearer credentials (RFC 6750 §3.1). The base class, without `code`, means "no
 * credentials were sent"; the subclasses carry the RFC 6750 error code.
 */
export class UnauthorizedError extends Error {
  constructor(message?: string, options?: { realm?: string; cause?: unknown; scopes?: string[] });
  /** 401, 400 or 403. */
  readonly status: number;
  readonly statusCode: number;
  /** 'invalid_request' | 'invalid_token' | 'insufficient_scope'; undefined when no credentials were sent. */
  readonly code: string | undefined;
  /** The WWW-Authenticate value. */
  readonly wwwAuthenticate: string;
  /** `{ 'WWW-Authenticate': wwwAuthenticate }`, as Express's error handler reads it. */
  readonly headers: Record<string, string>;
  /** The scopes required (InsufficientScopeError). */
  readonly scopes?: string[];
  readonly expose: true;
}
/** 400 invalid_request: a malformed Authorization header. */
export class InvalidRequestError extends UnauthorizedError {}
/** 401 invalid_token: expired, forged, another audience, another token type, or a failed claimCheck. */
export class InvalidTokenError extends UnauthorizedError {}
/** 403 insufficient_scope: `scopes` are the required ones. */
export class InsufficientScopeError extends UnauthorizedError {
  constructor(scopes: string[], message?: string, options?: { realm?: string; cause?: unknown });
}
/** 503: the key set cannot be fetched (`cause`: the COTTER_EJWKS_* error); the token may well be valid. */
export class KeysUnavailableError extends Error {
  readonly status: 503;
  readonly statusCode: 503;
  readonly code: 'temporarily_unavailable';
  /** `{ 'Retry-After': seconds }`. */
  readonly headers: Record<string, string>;
  readonly expose: true;
}

/**
 * Express error middleware for the errors above: their status and headers and a JSON body `{error,
 * error_description}` (no `error` when no credentials were sent); other errors go on to `next(err)`.
 */
export function authErrorHandler(): (err: unknown, req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Express 5 middleware, also usable as `handler(req, res, next)` under plain node:http. */
export interface AuthMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): Promise<void>;
  /** The verifier in use. */
  readonly verifier: Verifier;
  /** Frees the verifier if this middleware created it. */
  close(): void;
}

/** A node:http request listener. */
export interface AuthListener {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly verifier: Verifier;
  close(): void;
}

/**
 * Verifies `Authorization: Bearer <token>`, applies the policy (token type, claimCheck, requiredScopes) and puts the
 * claims on `req.auth` before `next()`. Failures go to `next(err)`: UnauthorizedError (401, no `error=`) without
 * credentials, InvalidRequestError (400), InvalidTokenError (401), InsufficientScopeError (403),
 * KeysUnavailableError (503), or the CotterError of an internal failure. The token is never echoed.
 */
export function requireAuth(options: RequireAuthOptions): AuthMiddleware;

/**
 * For plain node:http: `http.createServer(withAuth(options, (req, res) => ...))`. The middleware's errors are answered
 * as authErrorHandler() does; handler failures become a 500.
 */
export function withAuth(
  options: RequireAuthOptions,
  handler: (req: IncomingMessage & { auth: Claims }, res: ServerResponse) => void | Promise<void>,
): AuthListener;
