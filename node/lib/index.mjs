// ESM entry point of cotter-native: the CommonJS module re-exported (one addon instance per process).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cotter = require('./index.js');

export const {
  Client, Verifier, TokenSession, SharedStore, RedisStore, CotterError, Token, User, SocialToken, Identity,
  pkce, loginUrl, parseLoginRedirect, verifyIdentityToken, verifyEventToken, version, versionNumber, codes,
} = cotter;
// Present once node/lib/middleware.js and node/lib/compat.js exist (undefined before).
export const {
  requireAuth, withAuth, authErrorHandler, UnauthorizedError, InvalidRequestError, InvalidTokenError, InsufficientScopeError,
  KeysUnavailableError, CotterValidateJWT, CotterJwtToken, CotterAccessToken, CotterIDToken } = cotter;
export default cotter;
