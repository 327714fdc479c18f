'use strict';
// The refresh path's shortcuts (see README "Measured throughput") serve exactly what the generic
// code served: the templated oauth_token JSON, string response bodies with byte-exact
// Content-Length, and refresh-token hashes kept as base64url strings.
const test = require('node:test');
const assert = require('node:assert/strict');
const { emulator, rawRequest } = require('./helpers');
const { oauthJson } = require('../lib/tokens');

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
    { ...base, access_token: 'has"quote.a.b' },
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
