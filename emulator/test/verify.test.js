'use strict';
// POST /api/v0/verify/get_identity (code exchange, PKCE) and the worker's POST /verify.
const test = require('node:test');
const assert = require('node:assert/strict');
const { emulator, decodeJwt, pkce } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const exchange = (l, over = {}, headers = E.key, q = '?oauth_token=true') => E.api(`/verify/get_identity${q}`, {
  method: 'POST', headers,
  body: { code_verifier: l.verifier, authorization_code: l.code, challenge_id: l.challenge_id, redirect_url: l.redirect_url, ...over },
});

test('get_identity returns identifier, token, oauth_token and user, with or without ?oauth_token=true', async () => {
  for (const q of ['?oauth_token=true', '']) {
    const l = await E.loginViaPage({ identifier: 'Person@Example.com' });
    assert.ok(Number.isInteger(l.challenge_id));
    const r = await exchange(l, {}, E.key, q);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const b = r.body;
    assert.deepEqual(Object.keys(b.oauth_token).sort(), ['access_token', 'auth_method', 'expires_in', 'id_token', 'refresh_token', 'token_type']);
    assert.equal(b.identifier.identifier, 'person@example.com');
    assert.equal(b.identifier.identifier_type, 'EMAIL');
    assert.equal(b.identifier.ID, b.token.identifier_id);
    assert.equal(b.token.receiver, E.info.api_key_id);
    assert.equal(Number(b.token.expire_at) - Number(b.token.timestamp), 30 * 86400);
    assert.equal(b.user.identifier, 'person@example.com');
    assert.equal(b.user.issuer, E.info.api_key_id);
    assert.equal(decodeJwt(b.oauth_token.access_token).payload.sub, b.user.ID);
    assert.equal(b.oauth_token.auth_method, 'OTP');
  }
});

test('challenge_id as a numeric string is tolerated; other types are 400', async () => {
  const l = await E.loginViaPage();
  assert.equal((await exchange(l, { challenge_id: String(l.challenge_id) })).status, 200);
  const l2 = await E.loginViaPage();
  assert.equal((await exchange(l2, { challenge_id: 'abc' })).status, 400);
  assert.equal((await exchange(l2, { challenge_id: 1.5 })).status, 400);
});

test('bad PKCE verifier is rejected and burns the code', async () => {
  const l = await E.loginViaPage();
  const r = await exchange(l, { code_verifier: pkce().verifier });
  assert.equal(r.status, 400);
  assert.match(r.body.msg, /code_verifier/);
  const again = await exchange(l);
  assert.equal(again.status, 400);
  assert.match(again.body.msg, /already used/);
});

test('code is single use', async () => {
  const l = await E.loginViaPage();
  assert.equal((await exchange(l)).status, 200);
  const r = await exchange(l);
  assert.equal(r.status, 400);
  assert.match(r.body.msg, /not valid/);
});

test('code expires after 5 minutes (moved with the dev clock)', async () => {
  const l = await E.loginViaPage();
  await E.dev('/clock', { method: 'POST', body: { advance_seconds: 301 } });
  try {
    const r = await exchange(l);
    assert.equal(r.status, 400);
    assert.match(r.body.msg, /expired/);
  } finally { await E.dev('/clock', { method: 'POST', body: { offset_seconds: 0 } }); }
  // Just inside the window it still works.
  const l2 = await E.loginViaPage();
  await E.dev('/clock', { method: 'POST', body: { advance_seconds: 290 } });
  try { assert.equal((await exchange(l2)).status, 200); } finally { await E.dev('/clock', { method: 'POST', body: { offset_seconds: 0 } }); }
});

test('code is bound to challenge_id and redirect_url', async () => {
  const l = await E.loginViaPage();
  const r = await exchange(l, { challenge_id: l.challenge_id + 1000 });
  assert.equal(r.status, 400);
  assert.match(r.body.msg, /challenge_id/);
  const l2 = await E.loginViaPage();
  const r2 = await exchange(l2, { redirect_url: 'http://localhost:1/other' });
  assert.equal(r2.status, 400);
  assert.match(r2.body.msg, /redirect_url/);
});

test('unknown code, missing fields, missing/unknown API key, other project', async () => {
  const l = await E.loginViaPage();
  assert.equal((await exchange(l, { authorization_code: 'nope' })).status, 400);
  for (const f of ['code_verifier', 'authorization_code', 'challenge_id', 'redirect_url']) {
    const r = await exchange(l, { [f]: undefined });
    assert.equal(r.status, 400, f);
    assert.match(r.body.msg, new RegExp(f));
  }
  assert.equal((await exchange(l, {}, {})).status, 401);
  assert.equal((await exchange(l, {}, { API_KEY_ID: '22222222-2222-2222-2222-222222222222' })).status, 401);
  const other = (await E.dev('/projects', { method: 'POST', body: {} })).body;
  const r = await exchange(l, {}, { API_KEY_ID: other.api_key_id });
  assert.equal(r.status, 403);
});

test('worker POST /verify: success, tampered, expired, wrong aud, wrong iss, missing', async () => {
  const id = await E.login();
  const at = id.oauth_token.access_token;
  const w = (body, headers = {}) => fetch(E.info.worker_url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) })
    .then(async (r) => ({ status: r.status, body: await r.json() }));
  const INVALID = { success: false, reason: 'Error: Invalid JWT token' };
  assert.deepEqual((await w({ oauth_token: id.oauth_token })).body, { success: true });
  assert.deepEqual((await w({ oauth_token: { access_token: at } }, E.key)).body, { success: true });
  assert.deepEqual((await w({ oauth_token: { access_token: at } }, { API_KEY_ID: '33333333-3333-3333-3333-333333333333' })).body, INVALID);
  const [h, p, s] = at.split('.');
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'x' })).toString('base64url')}.${s}`;
  const r = await w({ oauth_token: { access_token: forged } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, INVALID);
  assert.deepEqual((await w({})).body, INVALID);
  assert.deepEqual((await w({ oauth_token: { access_token: 'a.b.c' } })).body, INVALID);
  const expired = (await E.dev('/access_token', { method: 'POST', body: { ttl: -10 } })).body.access_token;
  assert.deepEqual((await w({ oauth_token: { access_token: expired } })).body, INVALID);
  const wrongIss = (await E.dev('/access_token', { method: 'POST', body: { claims: { iss: 'https://evil.example' } } })).body.access_token;
  assert.deepEqual((await w({ oauth_token: { access_token: wrongIss } })).body, INVALID);
  const good = (await E.dev('/access_token', { method: 'POST', body: {} })).body.access_token;
  assert.deepEqual((await w({ oauth_token: { access_token: good } })).body, { success: true });
  // An id token verifies too (same key, iss, aud).
  assert.deepEqual((await w({ oauth_token: { access_token: id.oauth_token.id_token } }, E.key)).body, { success: true });
});
