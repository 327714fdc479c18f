'use strict';
// Client: every call of the C ABI against the emulator, and every error class a call can end in
// (server rejections, faults injected through /dev/faults, TLS, closed client, bad arguments).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, CotterError, Token, User, SocialToken, Verifier, verifyIdentityToken, verifyEventToken } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');

let emu;
let client;
before(async () => {
  emu = await startEmulator();
  client = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url,
    workerUrl: emu.info.worker_url, retryBaseMs: 1, retryMaxMs: 5 });
});
after(async () => { client.close(); await emu.stop(); });

const isCode = (code, extra = {}) => (e) => {
  assert.ok(e instanceof CotterError, `not a CotterError: ${e && e.stack}`);
  assert.equal(e.code, code, e.message);
  for (const [k, v] of Object.entries(extra)) assert.equal(e[k], v, k);
  return true;
};
const faults = (...f) => emu.dev('/faults', { faults: f });
const clearFaults = () => emu.dev('/faults', undefined, 'DELETE');

test('identity and event token grants, with their Ed25519 checks', async () => {
  const { identity_token: it } = await emu.dev('/identity_token', { identifier: 'grant@example.com' });
  const pub = emu.info.identity_public_key;
  assert.equal(verifyIdentityToken(it, emu.info.api_key_id, { publicKey: pub }), true);
  assert.throws(() => verifyIdentityToken(it, emu.info.api_key_id), isCode('COTTER_ELEGACY_SIGNATURE'));
  assert.throws(() => verifyIdentityToken(it, 'another-key', { publicKey: pub }), isCode('COTTER_ELEGACY_CLAIM'));
  const t = await client.exchangeIdentityToken(it);
  assert.ok(t instanceof Token);
  assert.equal(t.tokenType, 'Bearer');
  assert.match(t.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(t.expiresAt > Math.floor(Date.now() / 1000));
  assert.equal(t.expiresIn, 3600);

  const { event_token: ev } = await emu.dev('/event_token', { identifier: 'grant@example.com' });
  assert.equal(verifyEventToken(ev, emu.info.api_key_id, { publicKey: pub }), true);
  const t2 = await client.exchangeEventToken(JSON.stringify(ev));
  assert.equal(t2.authMethod, 'TRUSTED_DEVICE');
  const { event_token: denied } = await emu.dev('/event_token', { identifier: 'grant@example.com', approved: false });
  await assert.rejects(client.exchangeEventToken(denied), isCode('COTTER_EOAUTH', { httpStatus: 403 }));
  await assert.rejects(client.exchangeIdentityToken({ ...it, signature: it.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }),
    isCode('COTTER_EOAUTH', { httpStatus: 400 }));
});

test('refresh rotates; reusing the old refresh token is COTTER_EREAUTH and ends the login; logout revokes', async () => {
  const tok = await emu.login('refresh@example.com');
  const t1 = await client.refresh(tok.refresh_token);
  assert.notEqual(t1.refreshToken, tok.refresh_token);
  const t2 = await client.refresh(t1.refreshToken);
  await assert.rejects(client.refresh(tok.refresh_token), isCode('COTTER_EREAUTH', { httpStatus: 400 }));
  // Reuse of a rotated token revokes every token of that login (RFC 9700 §4.14.2).
  await assert.rejects(client.refresh(t2.refreshToken), isCode('COTTER_EREAUTH'));
  const again = await emu.login('refresh@example.com');
  await client.logout(again.refresh_token);
  await assert.rejects(client.refresh(again.refresh_token), isCode('COTTER_EREAUTH'));
  await client.logout();  // nothing to revoke: still fine
});

test('custom claims, with and without a refresh token that keeps them', async () => {
  const tok = await emu.login('custom@example.com');
  const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url });
  const plain = await client.customClaims(tok.access_token, { plan: 'pro' });
  assert.equal(plain.refreshToken, null);
  assert.equal(v.verifySync(plain.token).plan, 'pro');
  const kept = await client.customClaims(tok.access_token, '{"plan":"team"}', tok.refresh_token);
  assert.ok(kept.refreshToken);
  const next = await client.refresh(kept.refreshToken);
  assert.equal(v.verifySync(next.accessToken).plan, 'team');
  await assert.rejects(client.customClaims(tok.access_token, { sub: 'someone' }), isCode('COTTER_EOAUTH', { httpStatus: 400 }));
  await assert.rejects(client.customClaims(tok.access_token, 42), isCode('COTTER_EINVAL'));
  v.close();
});

test('users: create (idempotent), by identifier, by id, list, not found', async () => {
  const u = await client.createUser('Users@Example.com');
  assert.ok(u instanceof User);
  assert.equal(u.identifier, 'users@example.com');
  assert.equal((await client.createUser('users@example.com')).id, u.id);
  assert.equal((await client.getUser('users@example.com')).id, u.id);
  assert.equal((await client.getUserById(u.id)).identifier, 'users@example.com');
  assert.equal(u.raw.ID, u.id);
  for (let i = 0; i < 3; i++) await client.createUser(`list${i}@example.com`);
  const page = await client.listUsers(0);
  assert.ok(page.length >= 4);
  assert.ok(page.some((x) => x.id === u.id));
  assert.deepEqual(await client.listUsers(1000), []);
  // The page defaults to 0 (bind.node_defaults in capi/abi.json), with or without call options after it.
  assert.deepEqual((await client.listUsers()).map((x) => x.id), page.map((x) => x.id));
  assert.deepEqual((await client.listUsers(undefined, { timeoutMs: 5000 })).map((x) => x.id), page.map((x) => x.id));
  await assert.rejects(client.getUser('nobody@example.com'), isCode('COTTER_ENOTFOUND'));
  await assert.rejects(client.getUserById('00000000-0000-4000-8000-000000000001'), isCode('COTTER_ENOTFOUND', { httpStatus: 404 }));
});

test('social tokens: list, get, delete, not found', async () => {
  const u = await client.createUser('social@example.com');
  await emu.dev('/social_tokens', { user_id: u.id, identity_provider: 'GITHUB', provider_username: 'octo',
    tokens: { access_token: 'gho_providersecret', scope: 'read:user', token_type: 'bearer' } });
  const list = await client.socialTokens.list(u.id);
  assert.equal(list.length, 1);
  assert.ok(list[0] instanceof SocialToken);
  assert.equal(list[0].providerUsername, 'octo');
  assert.equal(list[0].accessToken, 'gho_providersecret');
  const one = await client.getSocialToken('github', u.id);
  assert.equal(one.scope, 'read:user');
  // A generated record class (capi/abi.json records): frozen; the object that holds the secret is a getter that
  // JSON and inspect leave out, as they redact the secret itself.
  assert.ok(Object.isFrozen(one) && Object.isFrozen(u));
  assert.equal(one.raw.tokens.access_token, 'gho_providersecret');
  assert.ok(!JSON.stringify(one).includes('gho_providersecret') && !JSON.stringify(one).includes('tokens'));
  await client.socialTokens.delete('GITHUB', u.id);
  await assert.rejects(client.socialTokens.get('GITHUB', u.id), isCode('COTTER_ENOTFOUND', { httpStatus: 404 }));
  await assert.rejects(client.deleteSocialToken('GITHUB', u.id), isCode('COTTER_ENOTFOUND'));
  assert.deepEqual(await client.listSocialTokens(u.id), []);
});

test('verifyRemote: the worker says valid, or why not', async () => {
  const tok = await emu.login('remote@example.com');
  assert.deepEqual(await client.verifyRemote(tok.access_token), { valid: true, reason: null });
  const expired = (await emu.dev('/access_token', { identifier: 'remote@example.com', ttl: -60 })).access_token;
  const r = await client.verifyRemote(expired);
  assert.equal(r.valid, false);
  assert.equal(typeof r.reason, 'string');
});

test('server and transport errors map to stable codes (faults)', async () => {
  const tok = await emu.login('faults@example.com');
  const R = 'POST /api/v0/token/:api_key_id';
  await faults({ route: R, status: 500 });
  await assert.rejects(client.refresh(tok.refresh_token), isCode('COTTER_EHTTP', { httpStatus: 500 }));
  await faults({ route: R, status: 429, retry_after: 7 });
  await assert.rejects(client.refresh(tok.refresh_token), isCode('COTTER_EHTTP', { httpStatus: 429, retryAfter: 7 }));
  // On a fresh client: libcurl silently re-sends a request once when a reused keep-alive connection turns out
  // dead before any answer, which would hide the reset.
  const fresh = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url });
  await faults({ route: R, reset: true });
  await assert.rejects(fresh.refresh(tok.refresh_token), isCode('COTTER_ENETWORK'));
  fresh.close();
  await faults({ route: R, malformed_json: true });
  await assert.rejects(client.refresh(tok.refresh_token), isCode('COTTER_EPROTOCOL'));
  // The refresh above was handled (its token rotated) before the body was mangled: log in again.
  const tok2 = await emu.login('faults@example.com');
  await faults({ route: R, oversized: true, size_bytes: 9 * 1024 * 1024 });
  await assert.rejects(client.refresh(tok2.refresh_token), isCode('COTTER_EPROTOCOL'));
  await faults({ route: R, non_json: true });
  await assert.rejects(client.refresh(tok2.refresh_token), (e) => e instanceof CotterError && ['COTTER_EPROTOCOL', 'COTTER_EHTTP'].includes(e.code));
  await faults({ route: R, redirect: 'file:///etc/passwd' });
  await assert.rejects(client.refresh(tok2.refresh_token), (e) => e instanceof CotterError && e.code !== 'COTTER_OK');
  // GETs are retried on 5xx: one injected 503 is absorbed.
  await faults({ route: 'GET /api/v0/user', status: 503 });
  assert.equal((await client.getUser('faults@example.com')).identifier, 'faults@example.com');
  assert.ok(client.stats().retries >= 1);
  await clearFaults();

  const slow = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url, timeoutMs: 300, maxRetries: 0 });
  await faults({ route: 'GET /api/v0/user', latency_ms: 30000 });  // far beyond the 300 ms budget, even on a stalled machine
  await assert.rejects(slow.getUser('faults@example.com'), isCode('COTTER_ETIMEOUT'));
  slow.close();
  await clearFaults();

  const noSecret = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url });
  await assert.rejects(noSecret.listUsers(0), (e) => e instanceof CotterError && ['COTTER_EOAUTH', 'COTTER_EINVAL'].includes(e.code));
  noSecret.close();
  const wrongSecret = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: 'not-the-secret', baseUrl: emu.info.base_url });
  // A rejected secret (or key id) is a configuration error of its own, never COTTER_EREAUTH, even on a refresh.
  await assert.rejects(wrongSecret.listUsers(0), isCode('COTTER_ECREDENTIALS', { httpStatus: 401 }));
  wrongSecret.close();
  const wrongKey = new Client({ apiKeyId: '0e0e0e0e-0000-4000-8000-00000000bad6', baseUrl: emu.info.base_url });
  const keyTok = await emu.login('wrong-key@example.com');
  await assert.rejects(wrongKey.refresh(keyTok.refresh_token), isCode('COTTER_ECREDENTIALS', { httpStatus: 401, status: -16 }));
  wrongKey.close();
  assert.ok((await client.refresh(keyTok.refresh_token)).accessToken, 'the refresh token was not spent');

  const refused = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: 'http://127.0.0.1:1/api/v0', maxRetries: 0 });
  await assert.rejects(refused.refresh('1:x'), isCode('COTTER_ENETWORK'));
  refused.close();
});

test('TLS: the emulator CA verifies; without it the handshake fails with COTTER_ETLS', async () => {
  const tls = await startEmulator(['--tls']);
  try {
    const ok = new Client({ apiKeyId: tls.info.api_key_id, apiSecretKey: tls.info.api_secret_key, baseUrl: tls.info.base_url, caFile: tls.info.ca_file });
    const tok = await tls.login('tls@example.com');
    assert.ok((await ok.refresh(tok.refresh_token)).accessToken);
    const v = new Verifier({ audience: tls.info.api_key_id, baseUrl: tls.info.base_url, caFile: tls.info.ca_file });
    assert.equal((await v.verify(tok.access_token)).identifier, 'tls@example.com');
    const bad = new Client({ apiKeyId: tls.info.api_key_id, baseUrl: tls.info.base_url, maxRetries: 0 });
    await assert.rejects(bad.getUser('tls@example.com'), isCode('COTTER_ETLS'));
    ok.close(); bad.close(); v.close();
  } finally {
    await tls.stop();
  }
});

test('bad arguments and closed clients are COTTER_EINVAL', async () => {
  assert.throws(() => new Client(), isCode('COTTER_EINVAL'));
  assert.throws(() => new Client({ apiKeyId: 5 }), isCode('COTTER_EINVAL'));
  assert.throws(() => new Client({ apiKeyId: 'k', baseUrl: 'not a url' }), isCode('COTTER_EINVAL'));
  assert.throws(() => new Client({ apiKeyId: 'k', timeoutMs: -1 }), isCode('COTTER_EINVAL'));
  assert.throws(() => new Client({ apiKeyId: 'k', maxRetries: Infinity }), isCode('COTTER_EINVAL'));
  await assert.rejects(client.refresh(42), isCode('COTTER_EINVAL'));
  await assert.rejects(client.getIdentity({ code: 'c', challengeId: 'x', codeVerifier: 'v', redirectUrl: 'u' }), isCode('COTTER_EINVAL'));
  await assert.rejects(client.getIdentity(), isCode('COTTER_EINVAL'));
  await assert.rejects(client.listUsers(-1), isCode('COTTER_EINVAL'));
  await assert.rejects(client.exchangeIdentityToken(7), isCode('COTTER_EINVAL'));
  await assert.rejects(client.exchangeIdentityToken('{not json'), (e) => e instanceof CotterError);
  const c = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url });
  const inFlight = c.getUser('nobody-in-flight@example.com').catch((e) => e.code);
  c.close();  // the call in flight still completes
  assert.equal(await inFlight, 'COTTER_ENOTFOUND');
  await assert.rejects(c.getUser('x@example.com'), isCode('COTTER_EINVAL'));
  assert.throws(() => c.stats(), isCode('COTTER_EINVAL'));
});
