// Type-level test of node/lib/index.d.ts: compiled with `tsc --strict --noEmit` by scripts/test-node.sh.
import { Client, CotterError, TokenSession, Verifier, codes, loginUrl, parseLoginRedirect, pkce, version } from 'cotter-native';
import {
  authErrorHandler, InsufficientScopeError, InvalidRequestError, InvalidTokenError, KeysUnavailableError, requireAuth,
  UnauthorizedError,
} from 'cotter-native';
import type { Claims, CotterErrorCode, Token } from 'cotter-native';

async function main(): Promise<void> {
  const v = new Verifier({ audience: 'key', baseUrl: 'http://127.0.0.1:1/api/v0', leeway: 5, tokenCache: 64 });
  const claims: Claims = v.verifySync('a.b.c');
  const sub: string | undefined = claims.sub;
  const custom: unknown = claims['role'];
  const asyncClaims: Claims = await v.verify(new Uint8Array([1]));
  v.close();

  const c = new Client({ apiKeyId: 'key', apiSecretKey: 'secret', baseUrl: 'http://127.0.0.1:1/api/v0', timeoutMs: 1000 });
  const t: Token = await c.refresh('1:abc');
  const at: string | null = t.accessToken;
  const exp: number = t.expiresAt;
  const users = await c.listUsers(0);
  const id: string | null = users[0].id;
  const social = await c.socialTokens.list('user');
  const provider: string | null = social[0].provider;
  const identity = await c.getIdentity({ code: 'c', challengeId: 1, codeVerifier: 'v', redirectUrl: 'http://localhost' });
  const idt = identity.identityToken;
  if (idt) await c.exchangeIdentityToken(idt);
  const cc = await c.customClaims(at ?? '', { role: 'admin' }, t.refreshToken);
  const special: string | null = cc.refreshToken;
  const verdict = await c.verifyRemote(at ?? '');
  const ok: boolean = verdict.valid;

  const ac = new AbortController();
  const held: Token = await c.refresh('1:abc', { signal: ac.signal, timeoutMs: 5000 });
  await c.logout(null, { signal: AbortSignal.timeout(1000) });
  await c.socialTokens.delete('GITHUB', 'user', { timeoutMs: 100 });
  await v.refresh({ signal: ac.signal });
  const viaSignal: Claims = await v.verify('a.b.c', { signal: ac.signal });
  const capped = new Client({ apiKeyId: 'key', maxHostConnections: 8 });
  capped.close();
  void held; void viaSignal;

  const s = new TokenSession(c, { load: async () => null, save: async (json: string | null) => { void json; }, marginSeconds: 30,
    onTokensChanged: (tok: Token | null) => { void tok; } });
  const access: string = await s.getAccessToken({ signal: ac.signal, timeoutMs: 1000 });
  const current: Token | null = s.token;
  await s.logout();
  s.close();
  c.close();

  const p = pkce();
  const url: string = loginUrl({ apiKeyId: 'key', redirectUrl: 'http://localhost:8080', state: p.state, codeChallenge: p.challenge });
  const { code, challengeId } = parseLoginRedirect(new URL(url), p.state);
  const challenge: string = pkce(p.verifier);

  try {
    v.verifySync('x');
  } catch (e) {
    if (e instanceof CotterError) {
      const name: CotterErrorCode = e.code;
      const cancelled: boolean = e.name === 'AbortError' && e.code === 'COTTER_ECANCELED';
      void cancelled;
      const status: number = e.httpStatus;
      void name; void status;
    }
  }
  void [sub, custom, asyncClaims, exp, id, provider, special, ok, access, current, code, challengeId, challenge, version, codes.COTTER_EJWT_EXPIRED];
}
void main;

// The middleware's policy options and error classes.
function middlewareTypes(v: Verifier): void {
  const mw = requireAuth({
    verifier: v, realm: 'api', tokenTypes: ['*'], requiredScopes: 'read write', authRequired: false,
    claimCheck: (claims) => claims.identifier === 'a@example.com',
  });
  const handler = authErrorHandler();
  const err: unknown = new InsufficientScopeError(['read']);
  if (err instanceof UnauthorizedError) {
    const status: number = err.status;
    const code: string | undefined = err.code;
    const www: string = err.headers['WWW-Authenticate'];
    void [status, code, www, err.wwwAuthenticate, err instanceof InvalidTokenError, err instanceof InvalidRequestError];
  }
  if (err instanceof KeysUnavailableError) void err.headers['Retry-After'];
  void [mw, handler];
}
void middlewareTypes;
