'use strict';
// Token endpoints: refresh with rotation (both paths, body and cookie), logout, custom claims,
// the legacy identity/event grants, JWKS.
const test = require('node:test');
const assert = require('node:assert/strict');
const { emulator, decodeJwt } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const SIX_KEYS = ['access_token', 'auth_method', 'expires_in', 'id_token', 'refresh_token', 'token_type'];

test('refresh rotates: new refresh token, old one rejected with "not valid"', async () => {
  const id = await E.login();
  const rt0 = id.oauth_token.refresh_token;
  assert.match(rt0, /^\d+:[A-Za-z0-9_-]+$/);
  const r1 = await E.refresh(rt0);
  assert.equal(r1.status, 200);
  assert.deepEqual(Object.keys(r1.body).sort(), SIX_KEYS);
  assert.notEqual(r1.body.refresh_token, rt0);
  assert.equal(r1.body.token_type, 'Bearer');
  assert.equal(r1.body.expires_in, 3600);
  const r2 = await E.refresh(r1.body.refresh_token);
  assert.equal(r2.status, 200);
  const { payload } = decodeJwt(r2.body.access_token);
  assert.equal(payload.sub, id.user.ID);
  assert.equal(payload.identifier, id.user.identifier);
  assert.equal(payload.authentication_method, 'OTP');
  // (Reusing rt0 now would revoke the whole login: refresh_family.test.js.)
  const again = await E.refresh(rt0);
  assert.equal(again.status, 400);
  assert.match(again.body.msg, /not valid/);
  assert.equal(again.body.type, '');
});

test('refresh: unknown, malformed and missing refresh tokens', async () => {
  for (const rt of ['999999:AAAAAAAAAAAAAAAAAAAAAAAA', 'garbage', '1:short']) {
    const r = await E.refresh(rt);
    assert.equal(r.status, 400, rt);
    assert.match(r.body.msg, /not valid/);
  }
  const none = await E.api(`/token/${E.info.api_key_id}`, { method: 'POST', headers: E.key, body: { grant_type: 'refresh_token' } });
  assert.equal(none.status, 400);
  assert.match(none.body.msg, /refresh_token is required/);
  const num = await E.refresh(12345);
  assert.equal(num.status, 400);
  const wrongGrant = await E.api(`/token/${E.info.api_key_id}`, { method: 'POST', headers: E.key, body: { grant_type: 'password' } });
  assert.equal(wrongGrant.status, 400);
});

test('refresh: API key header is required, must exist and match the path', async () => {
  const id = await E.login();
  const rt = id.oauth_token.refresh_token;
  assert.equal((await E.refresh(rt, {})).status, 401);
  const wrong = await E.refresh(rt, { API_KEY_ID: '11111111-1111-1111-1111-111111111111' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.body.msg, /API_KEY_ID/);
  const other = (await E.dev('/projects', { method: 'POST', body: {} })).body;
  const mism = await E.api(`/token/${other.api_key_id}`, { method: 'POST', headers: E.key, body: { grant_type: 'refresh_token', refresh_token: rt } });
  assert.equal(mism.status, 403);
  // A refresh token of project A is not valid for project B.
  const cross = await E.api(`/token/${other.api_key_id}`, { method: 'POST', headers: { API_KEY_ID: other.api_key_id }, body: { grant_type: 'refresh_token', refresh_token: rt } });
  assert.equal(cross.status, 400);
  assert.match(cross.body.msg, /not valid/);
  // ...and nothing above consumed it.
  assert.equal((await E.refresh(rt)).status, 200);
});

test('refresh from the cookie the server sets; logout revokes it and clears the cookie', async () => {
  const { loginViaPage } = E;
  const l = await loginViaPage();
  const gi = await fetch(`${E.info.base_url}/verify/get_identity`, { method: 'POST', headers: { ...E.key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ code_verifier: l.verifier, authorization_code: l.code, challenge_id: l.challenge_id, redirect_url: l.redirect_url }) });
  const body = await gi.json();
  const setCookie = gi.headers.get('set-cookie');
  assert.match(setCookie, /^cotter_refresh_token=\d+:[^;]+; Path=\/api\/v0\/token; HttpOnly; SameSite=Lax; Max-Age=2592000$/);
  assert.ok(setCookie.includes(body.oauth_token.refresh_token));
  const cookie = setCookie.split(';')[0];
  const r = await E.api(`/token/${E.info.api_key_id}`, { method: 'POST', headers: { ...E.key, Cookie: cookie }, body: { grant_type: 'refresh_token' } });
  assert.equal(r.status, 200);
  const cookie2 = r.headers.get('set-cookie').split(';')[0];
  assert.equal(cookie2, `cotter_refresh_token=${r.body.refresh_token}`);
  // Logout with the cookie.
  const out = await E.api(`/token/${E.info.api_key_id}`, { method: 'DELETE', headers: { ...E.key, Cookie: cookie2 } });
  assert.equal(out.status, 200);
  assert.deepEqual(out.body, { success: true, revoked: true });
  assert.match(out.headers.get('set-cookie'), /cotter_refresh_token=; .*Max-Age=0/);
  const after = await E.refresh(r.body.refresh_token);
  assert.equal(after.status, 400);
  assert.match(after.body.msg, /not valid/);
  // The old cookie value was rotated away.
  const old = await E.api(`/token/${E.info.api_key_id}`, { method: 'POST', headers: { ...E.key, Cookie: cookie }, body: { grant_type: 'refresh_token' } });
  assert.equal(old.status, 400);
});

test('logout with the refresh token in the body; idempotent; needs the API key', async () => {
  const id = await E.login();
  const rt = id.oauth_token.refresh_token;
  const out = await E.api(`/token/${E.info.api_key_id}`, { method: 'DELETE', headers: E.key, body: { refresh_token: rt } });
  assert.deepEqual(out.body, { success: true, revoked: true });
  const again = await E.api(`/token/${E.info.api_key_id}`, { method: 'DELETE', headers: E.key, body: { refresh_token: rt } });
  assert.deepEqual(again.body, { success: true, revoked: false });
  assert.equal((await E.refresh(rt)).status, 400);
  assert.equal((await E.api(`/token/${E.info.api_key_id}`, { method: 'DELETE' })).status, 401);
});

test('legacy POST /token refresh (RN / iOS path)', async () => {
  const id = await E.login();
  const r = await E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'refresh_token', refresh_token: id.oauth_token.refresh_token } });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body).sort(), SIX_KEYS);
  const bad = await E.api('/token', { method: 'POST', headers: E.key, body: { grant_type: 'nope' } });
  assert.equal(bad.status, 400);
  const none = await E.api('/token', { method: 'POST', headers: E.key, body: {} });
  assert.equal(none.status, 400);
  assert.match(none.body.msg, /grant_type/);
});

test('identity_token grant: valid, bad signature, wrong receiver, expired, missing secret', async () => {
  const { identity_token: t, user } = (await E.dev('/identity_token', { method: 'POST', body: { identifier: 'legacy@example.com' } })).body;
  assert.equal(t.receiver, E.info.api_key_id);
  assert.equal(t.identifier_id.length, 36);
  const ok = await E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'identity_token', identity_token: t } });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(decodeJwt(ok.body.access_token).payload.sub, user.ID);
  // The signature is over identifier+identifier_type+receiver+expire_at, with the printed key.
  const crypto = require('node:crypto');
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(E.info.identity_public_key, 'base64')]);
  const pub = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
  assert.ok(crypto.verify(null, Buffer.from(t.identifier + t.identifier_type + t.receiver + t.expire_at), pub, Buffer.from(t.signature, 'base64')));

  const tampered = { ...t, identifier: 'evil@example.com' };
  let r = await E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'identity_token', identity_token: tampered } });
  assert.equal(r.status, 400);
  assert.match(r.body.msg, /signature/);
  const sig = Buffer.from(t.signature, 'base64'); sig[0] ^= 1;
  r = await E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'identity_token', identity_token: { ...t, signature: sig.toString('base64') } } });
  assert.equal(r.status, 400);
  r = await E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'identity_token', identity_token: { ...t, signature: 'abc' } } });
  assert.equal(r.status, 400);
  // Signed for another project: receiver mismatch.
  const other = (await E.dev('/projects', { method: 'POST', body: {} })).body;
  r = await E.api('/token', { method: 'POST', headers: { API_KEY_ID: other.api_key_id, API_SECRET_KEY: other.api_secret_key }, body: { grant_type: 'identity_token', identity_token: t } });
  assert.equal(r.status, 403);
  // Expired.
  const old = (await E.dev('/identity_token', { method: 'POST', body: { identifier: 'legacy@example.com', expire_at: 1000 } })).body.identity_token;
  r = await E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'identity_token', identity_token: old } });
  assert.equal(r.status, 400);
  assert.match(r.body.msg, /expired/);
  // Secret required, and must be right.
  r = await E.api('/token', { method: 'POST', headers: E.key, body: { grant_type: 'identity_token', identity_token: t } });
  assert.equal(r.status, 401);
  assert.match(r.body.msg, /API_SECRET_KEY/);
  r = await E.api('/token', { method: 'POST', headers: { ...E.key, API_SECRET_KEY: 'wrong' }, body: { grant_type: 'identity_token', identity_token: t } });
  assert.equal(r.status, 401);
  r = await E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'identity_token', identity_token: 'str' } });
  assert.equal(r.status, 400);
});

test('event_token grant: valid, bad signature, not approved, wrong issuer, stale', async () => {
  const mk = async (b = {}) => (await E.dev('/event_token', { method: 'POST', body: { identifier: 'event@example.com', ...b } })).body.event_token;
  const e = await mk();
  assert.equal(e.issuer, E.info.api_key_id);
  const grant = (ev, h = E.secret) => E.api('/token', { method: 'POST', headers: h, body: { grant_type: 'event_token', event_token: ev } });
  const ok = await grant(e);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.auth_method, 'TRUSTED_DEVICE');
  assert.equal(decodeJwt(ok.body.access_token).payload.authentication_method, 'TRUSTED_DEVICE');
  assert.equal((await grant({ ...e, event: 'OTHER' })).status, 400);
  assert.equal((await grant({ ...e, approved: false })).status, 400); // signature covers approved
  const rejected = await mk({ approved: false });
  const r = await grant(rejected);
  assert.equal(r.status, 403);
  assert.match(r.body.msg, /approved/);
  const stale = await mk({ timestamp: 1000 });
  assert.equal((await grant(stale)).status, 400);
  assert.equal((await grant(e, E.key)).status, 401);
  const other = (await E.dev('/projects', { method: 'POST', body: {} })).body;
  assert.equal((await grant(e, { API_KEY_ID: other.api_key_id, API_SECRET_KEY: other.api_secret_key })).status, 403);
});

test('custom claims: top-level claims, special refresh token keeps them, both response keys', async () => {
  const id = await E.login();
  const { access_token: at, refresh_token: rt } = id.oauth_token;
  const c = await E.api('/token/custom', { method: 'POST', headers: E.secret,
    body: { token: at, custom_attributes: { username: 'helloworld', role: 'admin', user_id: 125 }, refresh_token: rt } });
  assert.equal(c.status, 200, JSON.stringify(c.body));
  const p = decodeJwt(c.body.token).payload;
  assert.equal(p.role, 'admin');
  assert.equal(p.user_id, 125);
  assert.equal(p.sub, id.user.ID);
  assert.equal(c.body.refresh_token, c.body.refresh_tokenn);
  const r = await E.refresh(c.body.refresh_token);
  assert.equal(r.status, 200);
  assert.equal(decodeJwt(r.body.access_token).payload.username, 'helloworld');
  assert.equal(decodeJwt(r.body.id_token).payload.role, 'admin');
  // ...and through another rotation.
  const r2 = await E.refresh(r.body.refresh_token);
  assert.equal(decodeJwt(r2.body.access_token).payload.user_id, 125);
  // Without refresh_token: only the token.
  const only = await E.api('/token/custom', { method: 'POST', headers: E.secret, body: { token: at, custom_attributes: { a: 1 } } });
  assert.deepEqual(Object.keys(only.body), ['token']);
  // Rejections.
  const bad = [
    [{ token: at, custom_attributes: { a: 1 } }, E.key, 401],
    [{ token: at, custom_attributes: { a: 1 } }, { ...E.key, API_SECRET_KEY: 'x' }, 401],
    [{ token: at.slice(0, -4) + 'AAAA', custom_attributes: { a: 1 } }, E.secret, 400],
    [{ token: at, custom_attributes: { sub: 'someone-else' } }, E.secret, 400],
    [{ token: at, custom_attributes: 'nope' }, E.secret, 400],
    [{ custom_attributes: { a: 1 } }, E.secret, 400],
    [{ token: at, custom_attributes: { a: 1 }, refresh_token: '1:AAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, E.secret, 400],
  ];
  for (const [body, headers, status] of bad) {
    const x = await E.api('/token/custom', { method: 'POST', headers, body });
    assert.equal(x.status, status, JSON.stringify(body));
    assert.equal(typeof x.body.msg, 'string');
  }
  // Another user's refresh token cannot be upgraded with this user's token.
  const other = await E.login();
  const x = await E.api('/token/custom', { method: 'POST', headers: E.secret, body: { token: at, custom_attributes: { a: 1 }, refresh_token: other.oauth_token.refresh_token } });
  assert.equal(x.status, 400);
});

test('JWKS shape and cache header; tokens carry the published kid and claims of spec §3', async () => {
  const j = await E.api('/token/jwks');
  assert.equal(j.status, 200);
  assert.match(j.headers.get('cache-control'), /max-age=\d+/);
  assert.equal(j.body.keys.length, 1);
  const k = j.body.keys[0];
  assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  assert.equal(k.kid, 'SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9');
  const id = await E.login();
  const { header, payload } = decodeJwt(id.oauth_token.access_token);
  assert.deepEqual(header, { alg: 'ES256', kid: k.kid, typ: 'JWT' });
  assert.deepEqual(Object.keys(payload), ['sub', 'client_user_id', 'authentication_method', 'type', 'identifier', 'scope', 'aud', 'exp', 'iat', 'jti', 'iss']);
  assert.equal(payload.type, 'client_access_token');
  assert.equal(payload.scope, 'access');
  assert.equal(payload.aud, E.info.api_key_id);
  assert.equal(payload.iss, 'https://www.cotter.app');
  assert.equal(payload.exp - payload.iat, 3600);
  const idt = decodeJwt(id.oauth_token.id_token).payload;
  assert.equal(typeof idt.auth_time, 'string');
  assert.equal(idt.sub, payload.sub);
  assert.equal(idt.aud, E.info.api_key_id);
  // Signature checks out with node:crypto against the JWK.
  const crypto = require('node:crypto');
  const pub = crypto.createPublicKey({ key: k, format: 'jwk' });
  const [h, p, s] = id.oauth_token.access_token.split('.');
  assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')));
});

test('configurable issuer and access TTL', async () => {
  const E2 = await emulator({ issuer: 'https://issuer.test', accessTtl: 60 });
  try {
    const id = await E2.login();
    const p = decodeJwt(id.oauth_token.access_token).payload;
    assert.equal(p.iss, 'https://issuer.test');
    assert.equal(p.exp - p.iat, 60);
    assert.equal(id.oauth_token.expires_in, 60);
  } finally { await E2.close(); }
});

test('retired refresh tokens are bounded: the newest N answer "already used", older ones are forgotten', async () => {
  const small = await emulator({ maxRetiredRefreshTokens: 3 });
  try {
    const id = await small.login();
    const chain = [id.oauth_token.refresh_token];
    for (let i = 0; i < 6; i++) {
      const r = await small.refresh(chain[chain.length - 1]);
      assert.equal(r.status, 200);
      chain.push(r.body.refresh_token);
    }
    // 6 rotations retired chain[0..5]; only the 3 newest are remembered.
    const { store } = small.emu.app;
    assert.equal([...store.refresh.values()].filter((row) => row.used).length, 3);
    // A forgotten token is merely unknown: its reuse can no longer be detected (the live token is untouched).
    for (const rt of chain.slice(0, 3)) {
      const r = await small.refresh(rt);
      assert.equal(r.status, 400);
      assert.equal(r.body.msg, 'Refresh token is not valid');
    }
    const live = await small.refresh(chain[6]);
    assert.equal(live.status, 200);
    // A remembered one is answered "already used", and its reuse revokes the login.
    const reuse = await small.refresh(chain[5]);
    assert.equal(reuse.status, 400);
    assert.match(reuse.body.msg, /not valid: it was already used/);
    assert.equal((await small.refresh(live.body.refresh_token)).status, 400);
  } finally {
    await small.close();
  }
});

test('maxRetiredRefreshTokens must be a positive integer', async () => {
  const { resolve, parseArgs } = require('../lib/config');
  assert.equal(resolve(parseArgs(['--max-retired-refresh-tokens', '7'])).maxRetiredRefreshTokens, 7);
  assert.throws(() => resolve({ maxRetiredRefreshTokens: 0 }), /positive integer/);
});
