'use strict';
// The refresh path's shortcuts (see README "Measured throughput") serve exactly what the generic
// code served: the templated oauth_token JSON, string response bodies with byte-exact
// Content-Length, and refresh-token hashes kept as base64url strings.
const test = require('node:test');
const assert = require('node:assert/strict');
const { emulator, rawRequest } = require('./helpers');
const { oauthJson, MAX_SIGN_BATCH } = require('../lib/tokens');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl_-';

test('oauthJson is byte-for-byte JSON.stringify of the oauth_token', () => {
  const base = { access_token: JWT, auth_method: 'OTP', expires_in: 3600, id_token: JWT + 'x', refresh_token: '17:abcDEF_-123', token_type: 'Bearer' };
  const cases = [
    base,
    { ...base, auth_method: 'TRUSTED "DEVICE"\\\n\u2028é😀' }, // escapes and non-ASCII
    { ...base, expires_in: -5 },
    { ...base, expires_in: 0 },
    // Off the expected shape: the generic serializer is used, so the output is still JSON.stringify's.
    { ...base, auth_method: undefined },
    { ...base, auth_method: 7 },
    { ...base, expires_in: NaN },
    { ...base, refresh_token: '1:a"b' },
    { ...base, token_type: 'bearer' },
  ];
  for (const o of cases) assert.equal(oauthJson(o), JSON.stringify(o));
});

test('refresh response: canonical JSON in spec key order, Content-Length counts bytes', async () => {
  const id = await E.login();
  const url = `${E.info.base_url}/token/${E.info.api_key_id}`;
  const r = await rawRequest(url, { method: 'POST', headers: { ...E.key, 'Content-Type': 'application/json' },
    body: { grant_type: 'refresh_token', refresh_token: id.oauth_token.refresh_token } });
  assert.equal(r.status, 200);
  assert.equal(Number(r.headers['content-length']), r.body.length);
  const text = r.body.toString('utf8');
  const body = JSON.parse(text);
  assert.equal(text, JSON.stringify(body));
  assert.deepEqual(Object.keys(body), ['access_token', 'auth_method', 'expires_in', 'id_token', 'refresh_token', 'token_type']);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.match(r.headers['set-cookie'][0], new RegExp(`^cotter_refresh_token=${body.refresh_token};`));
});

test('a non-ASCII auth_method (event grant) is escaped and counted in bytes', async () => {
  const method = 'TRUSTED_DEVICE "é😀"';
  const ev = (await E.dev('/event_token', { method: 'POST', body: { identifier: 'fast-paths@example.com', method } })).body.event_token;
  const r = await rawRequest(`${E.info.base_url}/token`, { method: 'POST', headers: { ...E.secret, 'Content-Type': 'application/json' },
    body: { grant_type: 'event_token', event_token: ev } });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(Number(r.headers['content-length']), r.body.length);
  const body = JSON.parse(r.body.toString('utf8'));
  assert.equal(body.auth_method, method);
  // And the refresh token it returns rotates like any other.
  const next = await E.refresh(body.refresh_token);
  assert.equal(next.status, 200);
  assert.equal(next.body.auth_method, method);
});

test('refresh secrets are checked against the stored hash: one changed character is "not valid"', async () => {
  const id = await E.login();
  const rt = id.oauth_token.refresh_token;
  const [n, secret] = rt.split(':');
  const flipped = secret[0] === 'A' ? 'B' + secret.slice(1) : 'A' + secret.slice(1);
  for (const bad of [`${n}:${flipped}`, `${n}:${secret}x`, `${n}:${secret.slice(0, -1)}`]) {
    const r = await E.refresh(bad);
    assert.equal(r.status, 400, bad);
    assert.match(r.body.msg, /not valid/);
  }
  // The failed attempts did not consume it.
  assert.equal((await E.refresh(rt)).status, 200);
  assert.equal((await E.refresh(rt)).status, 400);
});

test('token grants handled in one loop turn are signed in one batch; every token is right and verifies', async () => {
  const { app } = E.emu;
  const project = app.store.projects.get(E.info.api_key_id);
  const users = [0, 1, 2, 3, 4].map((i) => app.store.ensureUser(project.api_key_id, `batch${i}@example.com`, 'EMAIL')[0]);
  const before = (await E.dev('/stats')).body.sign_batches;
  const pending = users.map((u, i) => app.tokens.issueBatched(project, u, { auth_method: 'OTP', auth_time: 1000 + i, custom_claims: { n: i } }));
  // Nothing is signed before the loop turns, but the refresh rows already exist (rotation state is never deferred).
  assert.equal(app.stats.sign_batches.batches, before.batches);
  const out = await Promise.all(pending);
  const after = (await E.dev('/stats')).body.sign_batches;
  assert.equal(after.batches, before.batches + 1);
  assert.equal(after.responses, before.responses + 5);
  assert.ok(after.largest >= 5);
  const jtis = new Set();
  out.forEach((o, i) => {
    const a = app.tokens.verifyJwt(o.access_token, { audience: project.api_key_id });
    const id = app.tokens.verifyJwt(o.id_token, { audience: project.api_key_id });
    assert.equal(a.sub, users[i].ID);
    assert.equal(a.n, i);
    assert.equal(a.type, 'client_access_token');
    assert.equal(id.sub, users[i].ID);
    assert.equal(id.auth_time, String(1000 + i));
    jtis.add(a.jti).add(id.jti);
    assert.deepEqual(Object.keys(o), ['access_token', 'auth_method', 'expires_in', 'id_token', 'refresh_token', 'token_type']);
  });
  assert.equal(jtis.size, 10);
  // The refresh tokens are live and rotate.
  for (const o of out) assert.equal((await E.refresh(o.refresh_token)).status, 200);
});

test('concurrent refreshes on many connections: each chain gets its own user, reuse still fails', async () => {
  const ids = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(() => E.login()));
  const url = `${E.info.base_url}/token/${E.info.api_key_id}`;
  const fire = (rt) => rawRequest(url, { method: 'POST', headers: { ...E.key, 'Content-Type': 'application/json' }, body: { refresh_token: rt } });
  const first = await Promise.all(ids.map((id) => fire(id.oauth_token.refresh_token)));
  first.forEach((r, i) => {
    assert.equal(r.status, 200);
    const b = JSON.parse(r.body);
    assert.equal(E.emu.app.tokens.verifyJwt(b.access_token).sub, ids[i].user.ID);
  });
  const replay = await Promise.all(ids.map((id) => fire(id.oauth_token.refresh_token)));
  for (const r of replay) {
    assert.equal(r.status, 400);
    assert.match(JSON.parse(r.body).msg, /not valid/);
  }
});

test('a batch is capped: a burst of grants in one loop turn is signed in groups of MAX_SIGN_BATCH', async () => {
  const { app } = E.emu;
  const project = app.store.projects.get(E.info.api_key_id);
  const [user] = app.store.ensureUser(project.api_key_id, 'burst@example.com', 'EMAIL');
  await E.dev('/stats/reset', { method: 'POST' });
  const n = MAX_SIGN_BATCH + 6;
  const out = await Promise.all(Array.from({ length: n }, () => app.tokens.issueBatched(project, user, { auth_method: 'OTP', auth_time: 1, custom_claims: null })));
  const b = (await E.dev('/stats')).body.sign_batches;
  assert.deepEqual(b, { batches: 2, responses: n, largest: MAX_SIGN_BATCH });
  assert.equal(new Set(out.map((o) => o.refresh_token)).size, n);
  for (const o of [out[0], out[MAX_SIGN_BATCH - 1], out[n - 1]]) assert.equal(app.tokens.verifyJwt(o.id_token).sub, user.ID);
});
