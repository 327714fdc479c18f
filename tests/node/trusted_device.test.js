'use strict';
// An Event Token that comes from a real trusted-device approval on the emulator (spec §2.11: PUT /user/:id enrols the
// device, POST /event/create or create_pending → respond → get) is accepted by the C library: verifyEventToken
// (cotter_event_token_verify) and Client.exchangeEventToken (the event_token grant). A rejected one is refused.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Client, CotterError, pkce, verifyEventToken } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');

let emu;
let client;
before(async () => {
  emu = await startEmulator();
  client = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url });
});
after(async () => { client.close(); await emu.stop(); });

/** A device key pair as React Native's SDK makes it (tweetnacl Ed25519: standard base64 of the raw public key). */
function device() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  return {
    pub: Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64'),
    sign: (m) => crypto.sign(null, Buffer.from(m), privateKey).toString('base64'),
  };
}

/** A user with an enrolled device: {user, dev}. */
async function enrolledUser(identifier) {
  const login = await emu.dev('/login', { identifier });
  const dev = device();
  const r = await emu.request(`${emu.info.base_url}/user/${login.user.ID}`, { method: 'PUT',
    headers: { API_KEY_ID: emu.info.api_key_id, Authorization: `Bearer ${login.oauth_token.access_token}` },
    body: { method: 'TRUSTED_DEVICE', enrolled: true, code: dev.pub, algorithm: 'ED25519' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { user: login.user, dev };
}

/** The device's signed answer for an event (spec §2.11 message). */
function signed(u, { event = 'LOGIN', timestamp, approved = true }) {
  const b = { client_user_id: u.user.client_user_id, issuer: emu.info.api_key_id, event, timestamp: String(timestamp),
    method: 'TRUSTED_DEVICE', approved, public_key: u.dev.pub, algorithm: 'ED25519' };
  return { ...b, code: u.dev.sign(`${b.client_user_id}${b.issuer}${b.event}${b.timestamp}${b.method}${b.approved}`) };
}

const api = (p, o = {}) => emu.request(emu.info.base_url + p, { ...o, headers: { API_KEY_ID: emu.info.api_key_id, ...o.headers } });
const verify = (ev) => verifyEventToken(ev, emu.info.api_key_id, { publicKey: emu.info.identity_public_key });

test('an approved event from POST /event/create passes cotter_event_token_verify and the event_token grant', async () => {
  const u = await enrolledUser('device-owner@example.com');
  const { now } = await emu.dev('/clock');
  const r = await api('/event/create?oauth_token=true', { method: 'POST', body: signed(u, { timestamp: now }) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { oauth_token: tokens, ...event } = r.body;
  assert.equal(tokens.auth_method, 'TRUSTED_DEVICE');
  assert.equal(verify(event), true);
  assert.equal(verify(JSON.stringify(event)), true);
  const token = await client.exchangeEventToken(event);
  assert.equal(token.authMethod, 'TRUSTED_DEVICE');
  // Any change to a signed field breaks the emulator's signature for the C verifier.
  for (const change of [{ event: 'TRANSACTION' }, { approved: false }, { timestamp: String(now + 1) }, { client_user_id: 'someone' }]) {
    assert.throws(() => verify({ ...event, ...change }), (e) => e instanceof CotterError, JSON.stringify(change));
  }
});

test('pending → respond (approved) → get: that Event Token verifies too; a rejected one is refused by the verifier', async () => {
  const u = await enrolledUser('asker@example.com');
  const { now } = await emu.dev('/clock');
  const ask = { client_user_id: u.user.client_user_id, issuer: emu.info.api_key_id, event: 'LOGIN', timestamp: String(now), method: 'TRUSTED_DEVICE' };
  const ok = (await api('/event/create_pending', { method: 'POST', body: ask })).body;
  const approved = await api(`/event/respond/${ok.ID}`, { method: 'POST', body: signed(u, { timestamp: now }) });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const polled = (await api(`/event/get/${ok.ID}`)).body;
  assert.equal(polled.approved, true);
  assert.equal(verify(polled), true);
  assert.equal((await client.exchangeEventToken(polled)).authMethod, 'TRUSTED_DEVICE');

  const no = (await api('/event/create_pending', { method: 'POST', body: ask })).body;
  const rejected = (await api(`/event/respond/${no.ID}`, { method: 'POST', body: signed(u, { timestamp: now, approved: false }) })).body;
  assert.equal(rejected.approved, false);
  assert.throws(() => verify(rejected), (e) => e instanceof CotterError && e.code === 'COTTER_ELEGACY_CLAIM');
  await assert.rejects(client.exchangeEventToken(rejected), (e) => e instanceof CotterError);
});

test('Client.createPendingEvent → the device approves → Client.getEvent with the PKCE verifier: the tokens, once', async () => {
  const u = await enrolledUser('sdk-asker@example.com');
  const p = pkce();
  const ev = await client.createPendingEvent(u.user.ID, 'LOGIN', { codeChallenge: p.challenge });
  assert.ok(Number.isInteger(ev.ID) && ev.ID > 0);
  assert.equal(ev.new, true);
  assert.equal(ev.approved, false);
  assert.equal(ev.issuer, emu.info.api_key_id);
  const waiting = await client.getEvent(ev.ID, { codeVerifier: p.verifier, timeoutMs: 30000 });
  assert.equal(waiting.new, true);
  assert.equal(waiting.oauth_token, undefined);
  const answer = await api(`/event/respond/${ev.ID}`, { method: 'POST',
    body: signed(u, { timestamp: Number(ev.timestamp) }) });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  await assert.rejects(client.getEvent(ev.ID, { codeVerifier: pkce().verifier }),
    (e) => e instanceof CotterError && e.code === 'COTTER_EOAUTH' && /code_verifier/.test(e.message));
  const done = await client.getEvent(ev.ID, { codeVerifier: p.verifier });
  assert.equal(done.approved, true);
  assert.equal(done.oauth_token.auth_method, 'TRUSTED_DEVICE');
  await assert.rejects(client.getEvent(ev.ID, { codeVerifier: p.verifier }), (e) => /already issued/.test(e.message));
  const { oauth_token: _tokens, ...event } = done;
  assert.equal(verify(event), true);
});

test('createPendingEvent / getEvent errors: unknown event or user, no device, bad arguments', async () => {
  const code = (c) => (e) => e instanceof CotterError && e.code === c;
  await assert.rejects(client.getEvent(999999), code('COTTER_ENOTFOUND'));
  await assert.rejects(client.createPendingEvent('no-such-user'), code('COTTER_ENOTFOUND'));
  const lonely = await client.createUser('sdk-no-device@example.com');
  await assert.rejects(client.createPendingEvent(lonely.id), (e) => code('COTTER_EOAUTH')(e) && /trusted device/.test(e.message));
  await assert.rejects(client.createPendingEvent(lonely.id, ''), code('COTTER_EINVAL'));
  await assert.rejects(client.createPendingEvent(lonely.id, 'LOGIN', { codeChallenge: 'short' }), code('COTTER_EINVAL'));
  await assert.rejects(client.getEvent(1, { codeVerifier: 'short' }), code('COTTER_EINVAL'));
  await assert.rejects(client.getEvent(0), code('COTTER_EINVAL'));
  await assert.rejects(client.getEvent(1.5), code('COTTER_EINVAL'));
});
