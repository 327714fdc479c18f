'use strict';
// TokenSession: single-flight refresh under many concurrent getAccessToken(), file storage (0600, reload,
// logout), async load/save hooks, onTokensChanged, COTTER_EREAUTH, and failures that keep the tokens.
const { test, before, after } = require('node:test');

// A deadlock must fail the run, not hang it.
const TIMEOUT = { timeout: 60000 };
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client, TokenSession, Token, Verifier, CotterError } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');

const REFRESH = 'POST /api/v0/token/:api_key_id';
let emu;
let client;
let verifier;
let dir;
before(async () => {
  emu = await startEmulator();
  client = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url });
  verifier = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cotter-native-session-'));
});
after(async () => {
  client.close();
  verifier.close();
  fs.rmSync(dir, { recursive: true, force: true });
  await emu.stop();
});

/** A login whose access token is already expired, so the first getAccessToken() must refresh. */
async function expiredLogin(identifier) {
  await emu.dev('/expire_tokens', { next_access_ttl: -5, count: 1 });
  return emu.login(identifier);
}
async function refreshCount() {
  return (await emu.dev('/stats')).requests[REFRESH] || 0;
}

test('single flight: 200 concurrent getAccessToken() on an expired token cause exactly one refresh', async () => {
  const tok = await expiredLogin('flight@example.com');
  const changes = [];
  const s = new TokenSession(client, { token: tok, onTokensChanged: (t) => changes.push(t) });
  await emu.dev('/stats/reset', {});
  const all = await Promise.all(Array.from({ length: 200 }, () => s.getAccessToken()));
  assert.equal(await refreshCount(), 1);
  assert.equal(new Set(all).size, 1, 'every caller got the one new access token');
  assert.notEqual(all[0], tok.access_token);
  assert.equal(verifier.verifySync(all[0]).identifier, 'flight@example.com');
  // Fresh now: more calls refresh nothing.
  await s.getAccessToken();
  assert.equal(await refreshCount(), 1);
  await new Promise((r) => setImmediate(r));
  assert.equal(changes.length, 1);
  assert.ok(changes[0] instanceof Token);
  assert.equal(changes[0].accessToken, all[0]);
  assert.equal(s.token.accessToken, all[0]);
  s.close();
});

test('file storage: 0600 token file, a second session loads it, logout deletes it', async () => {
  const file = path.join(dir, 'tokens.json');
  const tok = await expiredLogin('file@example.com');
  const s = new TokenSession(client, { file, token: tok, marginSeconds: 60 });
  const at = await s.getAccessToken();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(stored.access_token, at);
  assert.deepEqual(Object.keys(stored).sort(), ['access_token', 'auth_method', 'expires_in', 'id_token', 'refresh_token', 'token_type']);
  s.close();

  const again = new TokenSession(client, { file });
  assert.equal(again.token, null, 'nothing is read before the first call');
  assert.equal(await again.getAccessToken(), at, 'loaded from the file, still fresh: no refresh');
  const t = await again.refresh();
  assert.notEqual(t.accessToken, at);
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).refresh_token, t.refreshToken);
  await again.logout();
  assert.equal(fs.existsSync(file), false);
  assert.equal(again.token, null);
  await assert.rejects(again.getAccessToken(), (e) => e instanceof CotterError && e.code === 'COTTER_EREAUTH');
  again.close();

  fs.writeFileSync(path.join(dir, 'corrupt.json'), '{"access_token": 12', { mode: 0o600 });
  const corrupt = new TokenSession(client, { file: path.join(dir, 'corrupt.json') });
  await assert.rejects(corrupt.getAccessToken(), { code: 'COTTER_ESTORAGE' });
  corrupt.close();
});

test('async load/save hooks run on the event loop; a failing save is COTTER_EUSER', async () => {
  let stored = JSON.stringify(await expiredLogin('hooks@example.com'));
  const saves = [];
  const s = new TokenSession(client, {
    load: async () => { await new Promise((r) => setTimeout(r, 5)); return stored; },
    save: async (json) => { await new Promise((r) => setTimeout(r, 5)); saves.push(json); stored = json; },
  });
  const at = await s.getAccessToken();
  assert.equal(saves.length, 1);
  assert.equal(JSON.parse(saves[0]).access_token, at);
  await s.setToken(Token.from(stored));
  await s.logout();
  assert.equal(saves[saves.length - 1], null, 'logout deletes the stored tokens');
  s.close();

  const broken = new TokenSession(client, { token: await expiredLogin('hooks2@example.com'),
    load: () => null, save: () => { throw new Error('disk full'); } });
  await assert.rejects(broken.getAccessToken(), (e) => e instanceof CotterError && ['COTTER_EUSER', 'COTTER_ESTORAGE'].includes(e.code));
  broken.close();

  const empty = new TokenSession(client, { load: () => undefined, save: () => {} });
  await assert.rejects(empty.getAccessToken(), { code: 'COTTER_EREAUTH' });
  empty.close();
});

test('hooks that need the thread pool themselves (fs.promises) never deadlock, even with 32 callers', TIMEOUT, async () => {
  const fsp = require('node:fs/promises');
  const file = path.join(dir, 'fs-hooks.json');
  await fsp.writeFile(file, JSON.stringify(await expiredLogin('fshooks@example.com')));
  const s = new TokenSession(client, {
    load: () => fsp.readFile(file, 'utf8'),
    save: (json) => (json === null ? fsp.rm(file, { force: true }) : fsp.writeFile(file, json)),
  });
  await emu.dev('/stats/reset', {});
  // Every pool thread busy waiting for a hook that needs a pool thread would hang here (it did, before the
  // session got its own thread); the suite's timeout would then fail this test.
  const all = await Promise.all(Array.from({ length: 32 }, () => s.getAccessToken()));
  assert.equal(new Set(all).size, 1);
  assert.equal(await refreshCount(), 1);
  assert.equal(JSON.parse(await fsp.readFile(file, 'utf8')).access_token, all[0]);
  await s.logout();
  assert.equal(fs.existsSync(file), false);
  s.close();
});

test('a rejected refresh token is COTTER_EREAUTH; a transport failure keeps the tokens', async () => {
  const tok = await expiredLogin('reauth@example.com');
  const s = new TokenSession(client, { token: tok });
  await emu.dev('/faults', { route: REFRESH, status: 503 });
  await assert.rejects(s.getAccessToken(), { code: 'COTTER_EHTTP', httpStatus: 503 });
  assert.ok((await s.getAccessToken()).length > 0, 'the same refresh token still works after the failure');
  await emu.dev('/expire_tokens', { identifier: 'reauth@example.com', refresh_tokens: true });
  await assert.rejects(s.refresh(), { code: 'COTTER_EREAUTH' });
  s.close();
});

test('bad options and closed sessions', async () => {
  const tok = await emu.login('bad@example.com');
  assert.throws(() => new TokenSession({}, {}), { code: 'COTTER_EINVAL' });
  assert.throws(() => new TokenSession(client, { load: () => null }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new TokenSession(client, { file: path.join(dir, 'x'), load: () => null, save: () => {} }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new TokenSession(client, { token: { nope: 1 } }), { code: 'COTTER_EPROTOCOL' });
  assert.throws(() => new TokenSession(client, { token: tok, marginSeconds: -1 }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new TokenSession(client, { onTokensChanged: 'x' }), { code: 'COTTER_EINVAL' });
  const s = new TokenSession(client, { token: tok });
  const pending = s.getAccessToken();
  s.close();
  assert.equal(await pending, tok.access_token);
  await assert.rejects(s.getAccessToken(), { code: 'COTTER_EINVAL' });
});

test('a session keeps its client alive: closing the client first leaves the session working', async () => {
  const c = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url });
  const s = new TokenSession(c, { token: await expiredLogin('parent@example.com') });
  c.close();
  await assert.rejects(c.refresh('1:x'), { code: 'COTTER_EINVAL' });
  assert.ok((await s.getAccessToken()).length > 0);
  s.close();
  assert.throws(() => new TokenSession(c, {}), { code: 'COTTER_EINVAL' });
});

test('two processes sharing a token file refresh once between them (advisory lock)', async () => {
  const { spawn } = require('node:child_process');
  const file = path.join(dir, 'shared.json');
  fs.writeFileSync(file, JSON.stringify(await expiredLogin('shared@example.com')), { mode: 0o600 });
  await emu.dev('/stats/reset', {});
  const script = `
    const { Client, TokenSession } = require(${JSON.stringify(path.join(__dirname, '../../node/lib/index.js'))});
    const c = new Client({ apiKeyId: process.env.KEY, baseUrl: process.env.BASE });
    const s = new TokenSession(c, { file: process.env.FILE });
    Promise.all(Array.from({ length: 20 }, () => s.getAccessToken()))
      .then((all) => { console.log(JSON.stringify([...new Set(all)])); s.close(); c.close(); })
      .catch((e) => { console.error(e.code, e.message); process.exit(1); });`;
  const run = () => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, KEY: emu.info.api_key_id, BASE: emu.info.base_url, FILE: file } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
  });
  const [a, b] = await Promise.all([run(), run()]);
  assert.equal(a.length, 1);
  assert.deepEqual(a, b, 'both processes end with the one refreshed access token');
  assert.equal(await refreshCount(), 1);
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).access_token, a[0]);
});

test('a save hook that awaits a call of the same client fails after timeoutMs (COTTER_EUSER) instead of hanging the client', TIMEOUT, async () => {
  // The hook runs while the client's I/O thread waits for it, so the call it awaits cannot start: a deadlock of
  // every request of the client, for ever, unless the wait is bounded (by the client's timeoutMs: 1 s here).
  const c = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url, timeoutMs: 1000 });
  const who = 'deadlock@example.com';
  const tok = await emu.login(who);
  let inner;
  const s = new TokenSession(c, { load: async () => null, save: async () => { inner = c.getUser(who, { timeoutMs: 20000 }); await inner; } });
  await assert.rejects(s.setToken(tok), { code: 'COTTER_EUSER' });
  assert.equal((await inner).identifier, who, 'the call the hook awaited runs once the hook gave up');
  assert.equal((await c.getUser(who)).identifier, who, 'the client works on');
  s.close();
  c.close();
});
