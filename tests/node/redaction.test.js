'use strict';
// No secret (API secret, access/ID/refresh tokens, provider tokens) in util.inspect, JSON.stringify, String(),
// enumerable keys or error messages of any object this package hands out.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const { Client, Verifier, TokenSession, Token, CotterError, parseLoginRedirect } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');

let emu;
let client;
before(async () => {
  emu = await startEmulator();
  client = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url });
});
after(async () => { client.close(); await emu.stop(); });

/** Every way an object can be printed or serialised. */
function renderings(obj) {
  return [util.inspect(obj), util.inspect(obj, { depth: Infinity, showHidden: true }), util.format('%o', obj), util.format('%j', obj),
    JSON.stringify(obj), String(obj), JSON.stringify(Object.keys(obj)), JSON.stringify({ ...obj })];
}
function assertHidden(obj, secrets, what) {
  for (const text of renderings(obj)) {
    for (const s of secrets.filter(Boolean)) assert.ok(!text.includes(s), `${what} leaks a secret in: ${text.slice(0, 200)}`);
  }
}

test('Token, TokenSession, CustomClaims and the Client never show their secrets', async () => {
  const tok = await emu.login('redact@example.com');
  const t = await client.refresh(tok.refresh_token);
  const secrets = [t.accessToken, t.idToken, t.refreshToken];
  assertHidden(t, secrets, 'Token');
  assert.match(util.inspect(t), /\[redacted\]/);
  assert.equal(t.expiresIn, 3600, 'non-secret fields stay visible');
  assert.match(util.inspect(t), /expiresAt/);
  assertHidden(Token.from(tok), [tok.access_token, tok.id_token, tok.refresh_token], 'Token.from');
  assert.equal(t.toOAuthToken().refresh_token, t.refreshToken, 'explicit export still gives the tokens');

  const s = new TokenSession(client, { token: t });
  await s.getAccessToken();
  assertHidden(s, secrets, 'TokenSession');

  const cc = await client.customClaims(t.accessToken, { plan: 'x' }, t.refreshToken);
  assertHidden(cc, [cc.token, cc.refreshToken], 'customClaims result');
  assert.ok(cc.token.length > 20);
  s.close();

  assertHidden(client, [emu.info.api_secret_key], 'Client');
  assert.match(util.inspect(client), /apiKeyId/);
});

test('SocialToken and Identity hide provider and oauth tokens', async () => {
  const u = await client.createUser('redact2@example.com');
  await emu.dev('/social_tokens', { user_id: u.id, identity_provider: 'GITHUB', tokens: { access_token: 'gho_TOPSECRETPROVIDERTOKEN' } });
  const [st] = await client.socialTokens.list(u.id);
  assertHidden(st, ['gho_TOPSECRETPROVIDERTOKEN'], 'SocialToken');
  assert.equal(st.accessToken, 'gho_TOPSECRETPROVIDERTOKEN');
  const r = parseLoginRedirect('?code=SECRETCODE123&state=s&challenge_id=5', 's');
  assert.equal(r.code, 'SECRETCODE123');
});

test('error messages never carry the token, the refresh token or the secret', async () => {
  const tok = await emu.login('redact3@example.com');
  const used = tok.refresh_token;
  await client.refresh(used);
  const e = await client.refresh(used).catch((x) => x);
  assert.ok(e instanceof CotterError);
  assert.equal(e.code, 'COTTER_EREAUTH');
  for (const text of [e.message, e.stack, util.inspect(e), JSON.stringify(e)]) {
    assert.ok(!text.includes(used) && !text.includes(used.split(':')[1]), text);
    assert.ok(!text.includes(emu.info.api_secret_key), text);
  }
  const v = new Verifier({ audience: 'another-audience', baseUrl: emu.info.base_url });
  const ve = await v.verify(tok.access_token).catch((x) => x);
  assert.equal(ve.code, 'COTTER_EJWT_AUDIENCE');
  for (const part of tok.access_token.split('.')) assert.ok(!util.inspect(ve).includes(part));
  v.close();
});

test('log lines reach the JS logger on the event loop and never carry a secret', async () => {
  const lines = [];
  const log = (level, message) => lines.push({ level, message });
  const c = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url, log, retryBaseMs: 1 });
  const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url, log });
  const tok = await emu.login('logs@example.com');
  const t = await c.refresh(tok.refresh_token);
  const cc = await c.customClaims(t.accessToken, { x: 1 }, t.refreshToken);
  await c.refresh(tok.refresh_token).catch(() => {}); // a rejected refresh logs too (and ends that login)
  await emu.dev('/faults', { route: 'GET /api/v0/user/list', status: 503 });
  await c.listUsers(0);
  await v.verify(t.accessToken);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(lines.length >= 5, JSON.stringify(lines));
  assert.ok(lines.every((l) => ['debug', 'info', 'warning', 'error'].includes(l.level)));
  assert.ok(lines.some((l) => /jwks/i.test(l.message)));
  const secrets = [emu.info.api_secret_key, tok.refresh_token, tok.access_token, t.accessToken, t.refreshToken, t.idToken, cc.token, cc.refreshToken];
  for (const { message } of lines) for (const s of secrets) assert.ok(!message.includes(s), message);
  assert.throws(() => new Client({ apiKeyId: 'k', log: 'console' }), { code: 'COTTER_EINVAL' });
  c.close();
  v.close();
});
