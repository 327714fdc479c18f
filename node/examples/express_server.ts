/**
 * @file node/examples/express_server.ts
 * @brief An Express 5 API that accepts only requests with a valid Cotter access token.
 *
 *   COTTER_API_KEY_ID=<your API key id> [COTTER_BASE_URL=http://127.0.0.1:PORT/api/v0] node express_server.js
 *   curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3000/me
 *
 * requireAuth() verifies the Bearer token off the event loop, accepts only access tokens (an ID token is refused) and
 * puts its claims on `req.auth`. Refusals go through next(err) as UnauthorizedError subclasses; authErrorHandler()
 * answers them: 401/400/403 with an RFC 6750 challenge, 503 + Retry-After while Cotter's keys cannot be fetched.
 */
import express = require('express');
import {
  authErrorHandler, CotterAccessToken, CotterError, CotterValidateJWT, requireAuth, type Claims,
} from 'cotter-native';

const apiKeyId = process.env.COTTER_API_KEY_ID;
if (!apiKeyId) throw new Error('set COTTER_API_KEY_ID');
const baseUrl = process.env.COTTER_BASE_URL ?? 'https://www.cotter.app/api/v0';

const app = express();
const auth = requireAuth({ audience: apiKeyId, baseUrl, realm: 'example' });

app.get('/health', (_req, res) => {
  res.json({ ok: true });
});

app.get('/me', auth, (req, res) => {
  const claims: Claims = req.auth!; // set by requireAuth for every request that reaches this handler
  res.json({ user: claims.sub, identifier: claims.identifier, expires: claims.exp });
});

// Code written for Cotter's old helpers keeps its shape: CotterValidateJWT resolves to a boolean, and the
// cotter-token-js getters read verified claims (verify() throws a CotterError for a bad token).
app.get('/legacy', async (req, res) => {
  const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
  const config = { audience: apiKeyId, baseUrl };
  if (!(await CotterValidateJWT(token, config))) {
    res.status(403).json({ valid: false });
    return;
  }
  try {
    const access = await CotterAccessToken.verify(token, config);
    res.json({ valid: true, user: access.getID(), identifier: access.getIdentifier(), method: access.getAuthMethod() });
  } catch (err) {
    res.status(403).json({ valid: false, code: err instanceof CotterError ? err.code : 'unknown' });
  }
});

// Cotter's tokens carry scope "access": a route can require it (or any scope your tokens carry).
app.get('/scoped', requireAuth({ audience: apiKeyId, baseUrl, requiredScopes: ['access'] }), (req, res) => {
  res.json({ scope: req.auth!.scope });
});

app.use(authErrorHandler());

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : '?'}`);
});

process.on('SIGTERM', () => {
  server.close(() => auth.close());
});
