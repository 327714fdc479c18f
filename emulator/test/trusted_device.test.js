'use strict';
// Spec §2.10 / §2.11: POST /user/create?oauth_token=true, trusted-device enrolment (PUT /user/:id), approved events
// (POST /event/create), and the pending → respond → get flow, so an Event Token comes from a real approval.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { emulator, pkce } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const SIX_KEYS = ['access_token', 'auth_method', 'expires_in', 'id_token', 'refresh_token', 'token_type'];
const now = async () => (await E.dev('/clock')).body.now;

/** An Ed25519 device: {pub (standard base64 of the raw key), sign(message) → standard base64}. */
function edDevice() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64');
  return { pub, algorithm: 'ED25519', sign: (m) => crypto.sign(null, Buffer.from(m), privateKey).toString('base64') };
}

/** An iOS-style P-256 device: X9.63 point, DER signatures over SHA-256. */
function ecDevice() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return { pub: point.toString('base64'), algorithm: undefined, sign: (m) => crypto.sign('sha256', Buffer.from(m), privateKey).toString('base64') };
}

/** A logged-in user: {user, access}. */
async function user(identifier = `td-${crypto.randomUUID().slice(0, 8)}@example.com`) {
  const body = (await E.dev('/login', { method: 'POST', body: { identifier } })).body;
  return { user: body.user, access: body.oauth_token.access_token };
}

const enrol = (u, dev, { query = '', headers } = {}) => E.api(`/user/${u.user.ID}${query}`, {
  method: 'PUT', headers: headers || { ...E.key, Authorization: `Bearer ${u.access}` },
  body: { method: 'TRUSTED_DEVICE', enrolled: true, code: dev.pub, ...(dev.algorithm ? { algorithm: dev.algorithm } : {}),
    device_name: 'Test phone', device_type: 'test' } });

/** The body a trusted device sends for an event, signed per spec §2.11. */
function signedEvent(u, dev, { event = 'LOGIN', timestamp, approved = true, extra = {} } = {}) {
  const b = { client_user_id: u.user.client_user_id, issuer: E.info.api_key_id, event, ip: '127.0.0.1', location: 'Here',
    timestamp: String(timestamp), method: 'TRUSTED_DEVICE', approved, public_key: dev.pub,
    ...(dev.algorithm ? { algorithm: dev.algorithm } : {}), ...extra };
  const message = `${b.client_user_id}${b.issuer}${b.event}${b.timestamp}${b.method}${b.approved}${b.register_new_device === true ? b.new_device_public_key : ''}`;
  return { ...b, code: dev.sign(message) };
}

/** Checks an Event Token's Ed25519 signature with the emulator's identity_public_key (spec §4.2). */
function eventSignatureValid(e) {
  const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(E.info.identity_public_key, 'base64').toString('base64url') }, format: 'jwk' });
  const msg = `${e.client_user_id}${e.issuer}${e.event}${e.timestamp}${e.method}${e.new}${e.approved}`;
  return crypto.verify(null, Buffer.from(msg), key, Buffer.from(e.signature, 'base64'));
}

const grant = (eventToken) => E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'event_token', event_token: eventToken } });
const withoutTokens = ({ oauth_token, ...e }) => e; // eslint-disable-line camelcase, no-unused-vars

test('POST /user/create?oauth_token=true returns the user plus an oauth_token (with the secret)', async () => {
  const r = await E.api('/user/create?oauth_token=true', { method: 'POST', headers: E.secret, body: { identifier: 'Created@Example.com' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.identifier, 'created@example.com');
  assert.match(r.body.ID, /^[0-9a-f-]{36}$/);
  assert.deepEqual(Object.keys(r.body.oauth_token).sort(), SIX_KEYS);
  const p = JSON.parse(Buffer.from(r.body.oauth_token.access_token.split('.')[1], 'base64url'));
  assert.equal(p.sub, r.body.ID);
  assert.equal(p.aud, E.info.api_key_id);
  assert.equal((await E.refresh(r.body.oauth_token.refresh_token)).status, 200);
  // Minting tokens needs the secret; without the flag there are no tokens.
  assert.equal((await E.api('/user/create?oauth_token=true', { method: 'POST', headers: E.key, body: { identifier: 'x@example.com' } })).status, 401);
  const plain = await E.api('/user/create', { method: 'POST', headers: E.key, body: { identifier: 'created@example.com' } });
  assert.equal(plain.body.ID, r.body.ID);
  assert.equal('oauth_token' in plain.body, false);
});

test('PUT /user/:id enrols a trusted device (the user\'s own access token or the secret), ?oauth_token=true adds tokens', async () => {
  const u = await user();
  const dev = edDevice();
  const r = await enrol(u, dev, { query: '?oauth_token=true' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.enrolled, ['TRUSTED_DEVICE']);
  assert.equal(r.body.default_method, 'TRUSTED_DEVICE');
  assert.equal(r.body.ID, u.user.ID);
  assert.equal(r.body.oauth_token.auth_method, 'TRUSTED_DEVICE');
  assert.equal(JSON.stringify(r.body).includes(dev.pub), false, 'the device list is not part of the User object');
  assert.equal((await enrol(u, dev)).status, 200); // same key again: idempotent
  // A second, different device needs an approval from the first (register_new_device): 409 here.
  assert.equal((await enrol(u, edDevice())).status, 409);
  // Proof of who is asking.
  const other = await user();
  assert.equal((await enrol(u, dev, { headers: E.key })).status, 401);
  assert.equal((await enrol(u, dev, { headers: { ...E.key, Authorization: 'Bearer a.b.c' } })).status, 401);
  assert.equal((await enrol(u, dev, { headers: { ...E.key, Authorization: `Bearer ${other.access}` } })).status, 403);
  assert.equal((await enrol(other, dev, { headers: { ...E.key, API_SECRET_KEY: 'wrong' } })).status, 401);
  assert.equal((await enrol(other, dev, { headers: E.secret })).status, 200);
  // Bad keys and bodies.
  for (const bad of [{ pub: 'not base64!', algorithm: 'ED25519' }, { pub: Buffer.alloc(31).toString('base64'), algorithm: 'ED25519' },
    { pub: dev.pub, algorithm: 'RSA' }, { pub: Buffer.alloc(65, 4).toString('base64') }]) {
    assert.equal((await enrol(await user(), bad)).status, 400, JSON.stringify(bad));
  }
  const pin = await E.api(`/user/${u.user.ID}`, { method: 'PUT', headers: E.secret, body: { method: 'PIN', enrolled: true, code: '1234' } });
  assert.equal(pin.status, 400);
  assert.equal((await E.api('/user/nobody', { method: 'PUT', headers: E.secret, body: {} })).status, 404);
});

test('POST /event/create: a device-signed approval gives an Event Token (Ed25519, spec §4.2) and tokens', async () => {
  const u = await user();
  const dev = edDevice();
  assert.equal((await enrol(u, dev)).status, 200);
  const ts = await now();
  const r = await E.api('/event/create?oauth_token=true', { method: 'POST', headers: E.key, body: signedEvent(u, dev, { timestamp: ts }) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const e = r.body;
  assert.equal(e.approved, true);
  assert.equal(e.new, false);
  assert.equal(e.issuer, E.info.api_key_id);
  assert.equal(e.client_user_id, u.user.client_user_id);
  assert.equal(e.user_id, u.user.ID);
  assert.equal(e.timestamp, String(ts));
  assert.equal(e.method, 'TRUSTED_DEVICE');
  assert.ok(Number.isInteger(e.ID));
  assert.ok(eventSignatureValid(e));
  assert.equal(e.oauth_token.auth_method, 'TRUSTED_DEVICE');
  // The Event Token is accepted by the event_token grant.
  const g = await grant(withoutTokens(e));
  assert.equal(g.status, 200, JSON.stringify(g.body));
  assert.equal(g.body.auth_method, 'TRUSTED_DEVICE');
  // Without ?oauth_token=true: only the event.
  const plain = await E.api('/event/create', { method: 'POST', headers: E.key, body: signedEvent(u, dev, { timestamp: ts, event: 'TRANSACTION' }) });
  assert.equal(plain.status, 200);
  assert.equal('oauth_token' in plain.body, false);
  assert.equal(plain.body.event, 'TRANSACTION');
});

test('POST /event/create refuses: a wrong signature, an unknown device, another user\'s device, stale time, not approved, wrong issuer', async () => {
  const u = await user();
  const dev = edDevice();
  await enrol(u, dev);
  const ts = await now();
  const post = (body) => E.api('/event/create', { method: 'POST', headers: E.key, body });
  const good = signedEvent(u, dev, { timestamp: ts });
  assert.equal((await post({ ...good, event: 'OTHER' })).status, 403); // signature over another event
  assert.equal((await post({ ...good, code: edDevice().sign('x') })).status, 403);
  const stranger = edDevice();
  assert.equal((await post(signedEvent(u, stranger, { timestamp: ts }))).status, 403);
  const v = await user();
  assert.equal((await post(signedEvent(v, dev, { timestamp: ts }))).status, 403); // dev is u's, not v's
  assert.equal((await post(signedEvent(u, dev, { timestamp: ts - 3600 }))).status, 400);
  assert.equal((await post(signedEvent(u, dev, { timestamp: ts, approved: false }))).status, 400);
  assert.equal((await post({ ...good, issuer: '00000000-0000-4000-8000-000000000000' })).status, 403);
  assert.equal((await post({ ...good, method: 'PIN' })).status, 400);
  assert.equal((await post({ ...good, client_user_id: 'nobody' })).status, 404);
  assert.equal((await post({ ...good, timestamp: 'soon' })).status, 400);
  assert.equal((await post(good)).status, 200);
});

test('pending → respond → get: another device asks, the trusted device approves, the asker gets the tokens once (PKCE)', async () => {
  const u = await user();
  const trusted = edDevice();
  await enrol(u, trusted);
  const ts = String(await now());
  const { verifier, challenge } = pkce();
  const ask = { client_user_id: u.user.client_user_id, issuer: E.info.api_key_id, event: 'LOGIN', ip: '10.0.0.9', location: 'Elsewhere',
    timestamp: ts, method: 'TRUSTED_DEVICE' };
  const pending = await E.api(`/event/create_pending?code_challenge=${challenge}`, { method: 'POST', headers: E.key, body: ask });
  assert.equal(pending.status, 200, JSON.stringify(pending.body));
  assert.equal(pending.body.new, true);
  assert.equal(pending.body.approved, false);
  const id = pending.body.ID;
  // Not approved yet: polling gives the event, no tokens; its token is refused by the grant.
  const early = await E.api(`/event/get/${id}?oauth_token=true&code_verifier=${verifier}`, { headers: E.key });
  assert.equal(early.status, 200);
  assert.equal('oauth_token' in early.body, false);
  assert.equal((await grant(early.body)).status, 403);
  // The trusted device sees the request and approves it.
  const seen = await E.api(`/event/new/${u.user.client_user_id}`, { headers: E.key });
  assert.equal(seen.body.ID, id);
  const answer = signedEvent(u, trusted, { timestamp: ts, approved: true });
  const wrongSig = await E.api(`/event/respond/${id}`, { method: 'POST', headers: E.key, body: { ...answer, code: edDevice().sign('x') } });
  assert.equal(wrongSig.status, 403);
  const approved = await E.api(`/event/respond/${id}`, { method: 'POST', headers: E.key, body: answer });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.approved, true);
  assert.equal(approved.body.new, false);
  assert.ok(eventSignatureValid(approved.body));
  assert.equal((await E.api(`/event/respond/${id}`, { method: 'POST', headers: E.key, body: answer })).status, 409);
  assert.equal((await E.api(`/event/new/${u.user.client_user_id}`, { headers: E.key })).body, null);
  // Only the asker (who has the verifier) gets the tokens, once.
  assert.equal((await E.api(`/event/get/${id}?oauth_token=true&code_verifier=${pkce().verifier}`, { headers: E.key })).status, 403);
  const got = await E.api(`/event/get/${id}?oauth_token=true&code_verifier=${verifier}`, { headers: E.key });
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.oauth_token.auth_method, 'TRUSTED_DEVICE');
  assert.equal((await E.refresh(got.body.oauth_token.refresh_token)).status, 200);
  assert.equal((await E.api(`/event/get/${id}?oauth_token=true&code_verifier=${verifier}`, { headers: E.key })).status, 409);
  // The approved Event Token itself works at the grant.
  assert.equal((await grant(withoutTokens(got.body))).status, 200);
  assert.equal((await E.api('/event/get/999999', { headers: E.key })).status, 404);
});

test('a rejected request stays unapproved; a request without code_challenge never yields tokens', async () => {
  const u = await user();
  const trusted = edDevice();
  await enrol(u, trusted);
  const ts = String(await now());
  const ask = { client_user_id: u.user.client_user_id, issuer: E.info.api_key_id, event: 'LOGIN', timestamp: ts, method: 'TRUSTED_DEVICE' };
  const p1 = (await E.api('/event/create_pending', { method: 'POST', headers: E.key, body: ask })).body;
  const rejected = await E.api(`/event/respond/${p1.ID}`, { method: 'POST', headers: E.key, body: signedEvent(u, trusted, { timestamp: ts, approved: false }) });
  assert.equal(rejected.status, 200);
  assert.equal(rejected.body.approved, false);
  assert.equal((await grant(rejected.body)).status, 403);
  const p2 = (await E.api('/event/create_pending', { method: 'POST', headers: E.key, body: ask })).body;
  await E.api(`/event/respond/${p2.ID}`, { method: 'POST', headers: E.key, body: signedEvent(u, trusted, { timestamp: ts }) });
  assert.equal((await E.api(`/event/get/${p2.ID}?oauth_token=true&code_verifier=${pkce().verifier}`, { headers: E.key })).status, 403);
  // A user without a trusted device cannot be asked.
  const lone = await user();
  const none = await E.api('/event/create_pending', { method: 'POST', headers: E.key, body: { ...ask, client_user_id: lone.user.client_user_id } });
  assert.equal(none.status, 400);
});

test('register_new_device: the trusted device approves a second device, which can then sign; EC (iOS) keys work too', async () => {
  const u = await user();
  const first = edDevice();
  await enrol(u, first);
  const second = ecDevice();
  const ts = await now();
  const reg = await E.api('/event/create', { method: 'POST', headers: E.key, body: signedEvent(u, first, { timestamp: ts, event: 'REGISTER',
    extra: { register_new_device: true, new_device_public_key: second.pub, device_type: 'iPhone', device_name: 'Second' } }) });
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  const byEc = await E.api('/event/create', { method: 'POST', headers: E.key, body: signedEvent(u, second, { timestamp: ts }) });
  assert.equal(byEc.status, 200, JSON.stringify(byEc.body));
  // The new key is part of the signed message: the same approval with another key does not verify.
  const third = edDevice();
  const forged = signedEvent(u, first, { timestamp: ts, event: 'REGISTER', extra: { register_new_device: true, new_device_public_key: second.pub } });
  assert.equal((await E.api('/event/create', { method: 'POST', headers: E.key, body: { ...forged, new_device_public_key: third.pub } })).status, 403);
  // Removing a device: its signatures stop working.
  const off = await E.api(`/user/${u.user.ID}`, { method: 'PUT', headers: E.secret, body: { method: 'TRUSTED_DEVICE', enrolled: false, code: first.pub } });
  assert.equal(off.status, 200);
  assert.deepEqual(off.body.enrolled, ['TRUSTED_DEVICE']); // the EC device is still there
  assert.equal((await E.api('/event/create', { method: 'POST', headers: E.key, body: signedEvent(u, first, { timestamp: ts }) })).status, 403);
});
