'use strict';
// The dev API: projects, minting, expiry, key rotation, clock, reset; and an independent
// check of the tokens with npm's `jose` against the emulator's own JWKS.
const test = require('node:test');
const assert = require('node:assert/strict');
const { emulator, decodeJwt } = require('./helpers');

let E;
let jose;
test.before(async () => { E = await emulator(); jose = await import('jose'); });
test.after(() => E.close());

test('projects: create with chosen or random values, duplicates and bad ids refused', async () => {
  const id = '0f0e0d0c-0b0a-4909-8807-060504030201';
  const r = await E.dev('/projects', { method: 'POST', body: { api_key_id: id, api_secret_key: 'sekret', name: 'Mine' } });
  assert.equal(r.status, 201);
  assert.equal(r.body.api_key_id, id);
  assert.deepEqual(r.body.allowed_urls, ['http://localhost:*', 'http://127.0.0.1:*', 'http://[::1]:*']);
  assert.equal((await E.dev('/projects', { method: 'POST', body: { api_key_id: id } })).status, 409);
  assert.equal((await E.dev('/projects', { method: 'POST', body: { api_key_id: 'not-a-uuid' } })).status, 400);
  assert.equal((await E.dev('/projects', { method: 'POST', body: { allowed_urls: 'x' } })).status, 400);
  const list = (await E.dev('/projects')).body;
  assert.ok(list.some((p) => p.api_key_id === id && p.api_secret_key === 'sekret'));
  const rand = (await E.dev('/projects', { method: 'POST', body: {} })).body;
  assert.match(rand.api_key_id, /^[0-9a-f-]{36}$/);
  // The new project works with its own secret.
  assert.equal((await E.api('/user/list?page=0', { headers: { API_KEY_ID: id, API_SECRET_KEY: 'sekret' } })).status, 200);
});

test('dev/login and dev/users create users; dev/access_token mints chosen claims and lifetimes', async () => {
  const u = (await E.dev('/users', { method: 'POST', body: { identifier: 'mint@example.com' } })).body;
  const t = (await E.dev('/access_token', { method: 'POST', body: { user_id: u.ID, ttl: 120, claims: { role: 'admin', scope: null } } })).body;
  const p = decodeJwt(t.access_token).payload;
  assert.equal(p.sub, u.ID);
  assert.equal(p.role, 'admin');
  assert.equal('scope' in p, false);
  assert.equal(p.exp - p.iat, 120);
  assert.equal(decodeJwt(t.id_token).payload.role, 'admin');
  const expired = decodeJwt((await E.dev('/access_token', { method: 'POST', body: { ttl: -30 } })).body.access_token).payload;
  assert.ok(expired.exp < Math.floor(Date.now() / 1000));
  const aud = decodeJwt((await E.dev('/access_token', { method: 'POST', body: { claims: { aud: 'someone-else' } } })).body.access_token).payload;
  assert.equal(aud.aud, 'someone-else');
  assert.equal((await E.dev('/access_token', { method: 'POST', body: { claims: [] } })).status, 400);
  assert.equal((await E.dev('/access_token', { method: 'POST', body: { kid: 'nope' } })).status, 404);
  assert.equal((await E.dev('/access_token', { method: 'POST', body: { user_id: 'nobody' } })).status, 404);
  const login = (await E.dev('/login', { method: 'POST', body: { identifier: 'mint@example.com' } })).body;
  assert.equal(login.user.ID, u.ID);
  assert.equal((await E.refresh(login.oauth_token.refresh_token)).status, 200);
});

test('expire_tokens: refresh tokens of a user die; next token responses carry expired access tokens', async () => {
  const a = (await E.dev('/login', { method: 'POST', body: { identifier: 'exp@example.com' } })).body;
  const b = (await E.dev('/login', { method: 'POST', body: { identifier: 'exp@example.com' } })).body;
  const other = (await E.dev('/login', { method: 'POST', body: { identifier: 'other@example.com' } })).body;
  const r = await E.dev('/expire_tokens', { method: 'POST', body: { user_id: a.user.ID } });
  assert.deepEqual(r.body, { expired_refresh_tokens: 2 });
  for (const x of [a, b]) {
    const f = await E.refresh(x.oauth_token.refresh_token);
    assert.equal(f.status, 400);
    assert.match(f.body.msg, /not valid/);
  }
  assert.equal((await E.refresh(other.oauth_token.refresh_token)).status, 200);

  const c = (await E.dev('/login', { method: 'POST', body: { identifier: 'exp2@example.com' } })).body;
  const n = await E.dev('/expire_tokens', { method: 'POST', body: { user_id: c.user.ID, refresh_tokens: false, next_access_ttl: -5, count: 1 } });
  assert.deepEqual(n.body, { next_access_ttl: -5, count: 1 });
  const r1 = await E.refresh(c.oauth_token.refresh_token);
  assert.equal(r1.status, 200);
  const p1 = decodeJwt(r1.body.access_token).payload;
  assert.ok(p1.exp <= Math.floor(Date.now() / 1000));
  assert.equal(r1.body.expires_in, -5);
  const r2 = await E.refresh(r1.body.refresh_token);
  const p2 = decodeJwt(r2.body.access_token).payload;
  assert.equal(p2.exp - p2.iat, 3600);
  assert.equal((await E.dev('/expire_tokens', { method: 'POST', body: {} })).status, 400);
  assert.equal((await E.dev('/expire_tokens', { method: 'POST', body: { identifier: 'nobody@example.com' } })).status, 404);
});

test('refresh tokens expire with the clock (30 days)', async () => {
  const a = (await E.dev('/login', { method: 'POST', body: { identifier: 'old@example.com' } })).body;
  await E.dev('/clock', { method: 'POST', body: { advance_seconds: 30 * 86400 + 1 } });
  try {
    const r = await E.refresh(a.oauth_token.refresh_token);
    assert.equal(r.status, 400);
    assert.match(r.body.msg, /expired/);
  } finally { await E.dev('/clock', { method: 'POST', body: { offset_seconds: 0 } }); }
  assert.equal((await E.dev('/clock', { method: 'POST', body: {} })).status, 400);
  assert.equal((await E.dev('/clock')).body.offset_seconds, 0);
});

test('jose verifies access and id tokens against the JWKS, before and after key rotation', async () => {
  const JWKS = jose.createRemoteJWKSet(new URL(E.info.jwks_url), { cooldownDuration: 0 });
  const opts = { issuer: 'https://www.cotter.app', audience: E.info.api_key_id, algorithms: ['ES256'] };
  const before = (await E.dev('/login', { method: 'POST', body: { identifier: 'jose@example.com' } })).body.oauth_token;
  const v1 = await jose.jwtVerify(before.access_token, JWKS, opts);
  assert.equal(v1.protectedHeader.kid, 'SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9');
  assert.equal(v1.payload.scope, 'access');
  await jose.jwtVerify(before.id_token, JWKS, opts);
  // Rotation: new kid signs, the old key stays published for the grace period.
  const rot = (await E.dev('/keys/rotate', { method: 'POST', body: {} })).body;
  assert.match(rot.kid, /^SPACE_JWT_PUBLIC:[0-9A-F-]{36}$/);
  assert.equal(rot.kids.length, 2);
  const after = (await E.refresh(before.refresh_token)).body;
  const v2 = await jose.jwtVerify(after.access_token, JWKS, opts);
  assert.equal(v2.protectedHeader.kid, rot.kid);
  await jose.jwtVerify(after.id_token, JWKS, opts);
  await jose.jwtVerify(before.access_token, JWKS, opts); // old key still in the JWKS
  // Tampering and wrong audience fail.
  await assert.rejects(jose.jwtVerify(after.access_token.slice(0, -3) + 'AAA', JWKS, opts));
  await assert.rejects(jose.jwtVerify(after.access_token, JWKS, { ...opts, audience: 'other' }));
  // Dropping the old key: old tokens no longer verify, against jose and the worker.
  const old = 'SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9';
  const d = await E.dev('/keys/drop', { method: 'POST', body: { kid: old } });
  assert.deepEqual(d.body.kids, [rot.kid]);
  const fresh = jose.createRemoteJWKSet(new URL(E.info.jwks_url));
  await assert.rejects(jose.jwtVerify(before.access_token, fresh, opts));
  const w = await fetch(E.info.worker_url, { method: 'POST', body: JSON.stringify({ oauth_token: before }) });
  assert.equal((await w.json()).success, false);
  assert.equal((await E.dev('/keys/drop', { method: 'POST', body: { kid: rot.kid } })).status, 404); // current key
});

test('rotation with drop_old, explicit kid, grace period ending with the clock', async () => {
  const E2 = await emulator();
  try {
    const a = (await E2.dev('/keys/rotate', { method: 'POST', body: { kid: 'SPACE_JWT_PUBLIC:K2', grace_seconds: 100 } })).body;
    assert.deepEqual(a.kids, ['SPACE_JWT_PUBLIC:K2', 'SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9']);
    assert.equal((await E2.dev('/keys/rotate', { method: 'POST', body: { kid: 'SPACE_JWT_PUBLIC:K2' } })).status, 409);
    await E2.dev('/clock', { method: 'POST', body: { advance_seconds: 101 } });
    assert.deepEqual((await E2.api('/token/jwks')).body.keys.map((k) => k.kid), ['SPACE_JWT_PUBLIC:K2']);
    const b = (await E2.dev('/keys/rotate', { method: 'POST', body: { drop_old: true } })).body;
    assert.equal(b.kids.length, 1);
    assert.equal((await E2.dev('/keys')).body.current, b.kid);
    const t = (await E2.dev('/login', { method: 'POST', body: { identifier: 'k@example.com' } })).body.oauth_token.access_token;
    assert.equal(decodeJwt(t).header.kid, b.kid);
  } finally { await E2.close(); }
});

test('POST /dev/reset clears users, tokens, mailbox, faults and stats but keeps projects and keys', async () => {
  const E2 = await emulator();
  try {
    const a = (await E2.dev('/login', { method: 'POST', body: { identifier: 'r@example.com' } })).body;
    await E2.loginViaPage({ identifier: 'r2@example.com' });
    const proj = (await E2.dev('/projects', { method: 'POST', body: {} })).body;
    const jwks = (await E2.api('/token/jwks')).body;
    await E2.dev('/faults', { method: 'POST', body: { route: '*', status: 500, count: 5 } });
    assert.equal((await E2.dev('/reset', { method: 'POST' })).status, 200);
    assert.equal((await E2.refresh(a.oauth_token.refresh_token)).status, 400);
    assert.deepEqual((await E2.dev('/mailbox')).body, []);
    assert.equal((await E2.api('/user?identifier=r%40example.com', { headers: E2.key })).body.ID, '00000000-0000-0000-0000-000000000000');
    assert.deepEqual((await E2.api('/token/jwks')).body, jwks);
    assert.ok((await E2.dev('/projects')).body.some((p) => p.api_key_id === proj.api_key_id));
    assert.deepEqual((await E2.dev('/faults')).body.faults, []);
    const del = await E2.dev('/mailbox', { method: 'DELETE' });
    assert.equal(del.status, 200);
  } finally { await E2.close(); }
});

test('isLoopback (which --host binds start without the network warning)', async () => {
  const { isLoopback } = require('../lib/util');
  assert.equal(isLoopback('localhost'), true);
  assert.equal(isLoopback('0.0.0.0'), false);
  assert.equal(isLoopback('::'), false);
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('::ffff:127.0.0.2'), true);
  assert.equal(isLoopback('10.0.0.1'), false);
  assert.equal(isLoopback('::ffff:192.168.0.1'), false);
  assert.equal(isLoopback(undefined), false);
});

test('generated project secrets never start with "-" (CLIs would take them for an option)', () => {
  // 1 in 64 random base64url secrets starts with '-'; 2,000 of them all pass only with the rule
  // (without it, the chance that none starts with '-' is ~2e-14).
  const { store } = E.emu.app;
  for (let i = 0; i < 2000; i++) {
    const p = store.addProject({});
    assert.notEqual(p.api_secret_key[0], '-');
    assert.match(p.api_secret_key, /^[A-Za-z0-9_-]{32}$/);
    store.projects.delete(p.api_key_id);
  }
});
