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
  /** `realm` of the WWW-Authenticate challenges. None by default. */
  realm?: string;
  /** Retry-After of the 503 answered while keys cannot be fetched. Default 10. */
  retryAfterSeconds?: number;
  /** The request property that receives the claims. Default 'auth'. */
  property?: string;
}

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
 * Verifies `Authorization: Bearer <token>` and puts the claims on `req.auth`. No credentials → 401 `Bearer`;
 * malformed header → 400 `invalid_request`; rejected token → 401 `invalid_token` (the code name as
 * error_description, never the token); keys unavailable → 503 with Retry-After. `next(err)` only for internal
 * failures (out of memory, bugs).
 */
export function requireAuth(options: RequireAuthOptions): AuthMiddleware;

/** For plain node:http: `http.createServer(withAuth(options, (req, res) => ...))`; handler failures become a 500. */
export function withAuth(
  options: RequireAuthOptions,
  handler: (req: IncomingMessage & { auth: Claims }, res: ServerResponse) => void | Promise<void>,
): AuthListener;
