/**
 * @file node/lib/compat.d.ts
 * @brief Types of the drop-ins for Cotter's old helpers (node/lib/compat.js, spec §5.3).
 */
import type { Claims, Verifier, VerifierOptions } from './index';

/** A Verifier, its options, or `{ verifier }`; omitted = the environment (COTTER_API_KEY_ID, COTTER_BASE_URL, COTTER_CA_FILE). */
export type CompatConfig = Verifier | Partial<VerifierOptions> | { verifier: Verifier };

/**
 * cotter-node's CotterValidateJWT: true when the token verifies (ES256 signature by kid, exp, aud, iss), false when it
 * does not or when keys cannot be fetched. Rejects only when no audience is configured (COTTER_EINVAL).
 */
export function CotterValidateJWT(token: string, config?: CompatConfig): Promise<boolean>;

/** cotter-token-js's CotterJwtToken, over verified claims only. */
export class CotterJwtToken {
  /** Verifies synchronously (a remote JWKS is fetched on first use); throws CotterError when invalid. */
  constructor(token: string, config?: CompatConfig);
  /** Verifies off the event loop (the addon's verify threads). */
  static verify<T extends CotterJwtToken>(this: new (token: string, config?: CompatConfig) => T, token: string, config?: CompatConfig): Promise<T>;
  /** The token (a bearer credential: not enumerable, never shown by inspect or JSON). */
  readonly token: string;
  /** The verified claims (frozen). */
  readonly payload: Readonly<Claims>;
  getExpiration(): number;
  getIssuedAt(): number;
  getAudience(): string | string[];
}

export class CotterAccessToken extends CotterJwtToken {
  getAuthMethod(): string | undefined;
  getScope(): string | undefined;
  getID(): string;
  getIdentifier(): string | undefined;
  /** @deprecated as in cotter-token-js */
  getClientUserID(): string | undefined;
}

export class CotterIDToken extends CotterJwtToken {
  getAuthTime(): string | number | undefined;
  getIdentifier(): string | undefined;
  getID(): string;
  getClientUserID(): string | undefined;
}
