'use strict';
// PKCE login through the emulator's hosted page, driven over HTTP as a person would: pkce(), loginUrl(),
// the page, parseLoginRedirect(), getIdentity(), then the tokens verify and the Identity Token exchanges.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Client, Verifier, CotterError, pkce, loginUrl, parseLoginRedirect, verifyIdentityToken } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');

let emu;
let client;
before(async () => {
  emu = await startEmulator();
  client = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url });
});
after(async () => { client.close(); await emu.stop(); });

test('pkce(): 43-char verifier, its S256 challenge, a state; pkce(verifier) recomputes the challenge', () => {
  const p = pkce();
  assert.match(p.verifier, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(p.challenge, crypto.createHash('sha256').update(p.verifier).digest('base64url'));
  assert.equal(pkce(p.verifier), p.challenge);
  assert.equal(p.state.length, 22);
  assert.notEqual(pkce().verifier, p.verifier);
});

test('full login through the hosted page', async () => {
  const p = pkce();
  const redirectUrl = 'http://localhost:8912/callback';
  const url = loginUrl({ loginUrl: emu.info.login_url, apiKeyId: emu.info.api_key_id, redirectUrl, state: p.state,
    codeChallenge: p.challenge, identifierType: 'EMAIL', authMethod: 'OTP' });
  const u = new URL(url);
  assert.equal(u.searchParams.get('code_challenge'), p.challenge);
  assert.equal(u.searchParams.get('redirect_url'), redirectUrl);

  const location = await emu.completeLoginPage(url, 'page@example.com');
  const { code, challengeId } = parseLoginRedirect(location.href, p.state);
  assert.ok(code.length > 0);
  assert.ok(Number.isInteger(challengeId));
  assert.deepEqual(parseLoginRedirect(location.search, p.state), { code, challengeId });

  const identity = await client.getIdentity({ code, challengeId, codeVerifier: p.verifier, redirectUrl });
  assert.equal(identity.identifier, 'page@example.com');
  assert.equal(identity.identifierType, 'EMAIL');
  assert.ok(identity.userId);
  const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url });
  assert.equal(v.verifySync(identity.token.accessToken).identifier, 'page@example.com');
  assert.equal(v.verifySync(identity.token.idToken).type, 'client_id_token');
  v.close();
  assert.equal(verifyIdentityToken(identity.identityToken, emu.info.api_key_id, { publicKey: emu.info.identity_public_key }), true);
  assert.ok((await client.exchangeIdentityToken(identity.identityToken)).accessToken);
  // The code is single use.
  await assert.rejects(client.getIdentity({ code, challengeId, codeVerifier: p.verifier, redirectUrl }),
    (e) => e instanceof CotterError && e.code === 'COTTER_EOAUTH' && e.httpStatus === 400);
});

test('a wrong verifier consumes the code; a wrong state or an error redirect is COTTER_ESTATE', async () => {
  const p = pkce();
  const redirectUrl = 'http://127.0.0.1:9/cb';
  const url = loginUrl({ loginUrl: emu.info.login_url, apiKeyId: emu.info.api_key_id, redirectUrl, state: p.state, codeChallenge: p.challenge });
  const location = await emu.completeLoginPage(url, 'wrong@example.com');
  assert.throws(() => parseLoginRedirect(location.href, 'another-state'), { code: 'COTTER_ESTATE' });
  const { code, challengeId } = parseLoginRedirect(location, p.state);
  await assert.rejects(client.getIdentity({ code, challengeId, codeVerifier: pkce().verifier, redirectUrl }), { code: 'COTTER_EOAUTH' });
  await assert.rejects(client.getIdentity({ code, challengeId, codeVerifier: p.verifier, redirectUrl }), { code: 'COTTER_EOAUTH' });
  assert.throws(() => parseLoginRedirect(`?error=access_denied&state=${p.state}`, p.state), { code: 'COTTER_ESTATE' });
  assert.throws(() => parseLoginRedirect(`?state=${p.state}`, p.state), { code: 'COTTER_EPROTOCOL' });
  assert.throws(() => loginUrl({ apiKeyId: emu.info.api_key_id }), { code: 'COTTER_EINVAL' });
  assert.throws(() => parseLoginRedirect(null, 's'), { code: 'COTTER_EINVAL' });
});
