// Type-level test of node/lib/index.d.ts: compiled with `tsc --strict --noEmit` by scripts/test-node.sh.
import { Client, CotterError, RedisStore, SharedStore, TokenSession, Verifier, codes, loginUrl, parseLoginRedirect, pkce, version } from 'cotter-native';
import {
  authErrorHandler, InsufficientScopeError, InvalidRequestError, InvalidTokenError, KeysUnavailableError, requireAuth,
  UnauthorizedError,
} from 'cotter-native';
import type { Claims, CotterErrorCode, SocialToken, Token, User } from 'cotter-native';

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

// The network methods whose declarations scripts/gen.py writes from capi/abi.json: the arguments and results are
// as strict as written by hand (each @ts-expect-error fails the compile if the line it marks compiles).
async function generatedCalls(c: Client, s: TokenSession): Promise<void> {
  const page: User[] = await c.listUsers();
  const byId: User = await c.getUserById('u', { timeoutMs: 10 });
  const one: SocialToken = await c.getSocialToken('GITHUB', 'u');
  const none: void = await c.deleteSocialToken('GITHUB', 'u');
  await c.logout();
  await c.verifyRemote(new Uint8Array([1]));
  await c.exchangeEventToken('{}');
  await s.setToken({ access_token: 'a' });
  // @ts-expect-error a number is no refresh token
  await c.refresh(42);
  // @ts-expect-error the page is a number
  await c.listUsers('1');
  // @ts-expect-error getSocialToken takes the provider and the user id
  await c.getSocialToken('GITHUB');
  // @ts-expect-error only refresh tokens and access tokens may be bytes
  await c.getUser(new Uint8Array([1]));
  // @ts-expect-error an Event Token object has its members
  await c.exchangeEventToken({ event: 'LOGIN' });
  // @ts-expect-error createUser resolves to a User, not a Token
  const wrong: Token = await c.createUser('a@example.com');
  // @ts-expect-error the call options come last and are an object
  await c.createUser('a@example.com', 5);
  // @ts-expect-error a session's token is a Token, its object or its JSON
  await s.setToken(42);
  // @ts-expect-error getAccessToken resolves to a string
  const n: number = await s.getAccessToken();
  void [page, byId, one, none, wrong, n];
}
void generatedCalls;

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

/** Sessions shared by a fleet: RedisStore over an ioredis client, SharedStore over any eval. */
async function sharedStoreTypes(c: Client, redis: import('ioredis').Redis, cluster: import('ioredis').Cluster): Promise<void> {
  const store = new RedisStore(redis, { keyPrefix: 'cotter', leaseTtlMs: 10000, waitMs: 100 });
  const viaCluster = new RedisStore(cluster);
  const plain = new SharedStore({
    eval: async (script: string, sha1: string, keys: string[], args: string[]) => [script, sha1, keys.length, ...args],
  });
  const waiting = new SharedStore({
    eval: async () => [],
    wait: async (channel: string, timeoutMs: number) => channel.length > 0 && timeoutMs > 0,
  });
  waiting.close();
  const s = new TokenSession(c, { sharedStore: store, sharedSessionId: 'user:1', marginSeconds: 30 });
  const access: string = await s.getAccessToken();
  void access;
  s.close();
  for (const x of [store, viaCluster, plain]) x.close();
}
void sharedStoreTypes;
