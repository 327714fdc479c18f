'use strict';
// What cancellation tests need from the emulator: a request held before its headers (latency_ms up to minutes),
// a body that stops mid-way (truncate with hang, or slow_drip with a long interval), and stats that say what the
// server saw: `requests` on arrival, `handled` when the handler started, `client_aborts` when a held client left.
// A held request is let go when its client disconnects (no handler runs: a refresh token is not rotated), and it
// keeps neither the server nor the test process alive.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const path = require('node:path');
const { emulator } = require('./helpers');

const REFRESH = 'POST /api/v0/token/:api_key_id';
const JWKS = 'GET /api/v0/token/jwks';

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const stats = async (emu = E) => (await emu.dev('/stats')).body;
/** Polls /dev/stats (one round trip per try, no timers) until `pred(stats)` holds. */
async function until(pred, emu = E) {
  for (let i = 0; i < 20000; i++) {
    const s = await stats(emu);
    if (pred(s)) return s;
  }
  throw new Error('the emulator never reached the expected state');
}

/** Starts a raw HTTP/1.1 request and hands back {req, response: Promise<{status, body, error}>, firstData: Promise}. */
function start(url, { method = 'GET', headers = {}, body } = {}) {
  const u = new URL(url);
  let gotData;
  const firstData = new Promise((r) => { gotData = r; });
  let req;
  const response = new Promise((resolve) => {
    req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, headers, agent: false }, (res) => {
      const parts = [];
      res.on('data', (c) => { parts.push(c); gotData(Buffer.concat(parts)); });
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }));
      res.on('error', (error) => resolve({ status: res.statusCode, body: Buffer.concat(parts), error }));
      res.on('aborted', () => resolve({ status: res.statusCode, body: Buffer.concat(parts), error: new Error('aborted') }));
    });
    req.on('error', (error) => resolve({ error }));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
  return { req, response, firstData };
}

test('a request held by latency_ms is let go when its client disconnects: counted once, never handled, token not rotated', async () => {
  await E.dev('/stats/reset', { method: 'POST' });
  const rt = (await E.login()).oauth_token.refresh_token;
  await E.dev('/faults', { method: 'POST', body: { route: REFRESH, latency_ms: 60000 } });
  const call = start(`${E.info.base_url}/token/${E.info.api_key_id}`, { method: 'POST',
    headers: { API_KEY_ID: E.info.api_key_id, 'Content-Type': 'application/json' }, body: { refresh_token: rt } });
  let s = await until((x) => x.requests[REFRESH] === 1); // the server has it (and holds it)
  assert.equal(s.handled[REFRESH], undefined);
  call.req.destroy();
  assert.ok((await call.response).error);
  s = await until((x) => x.client_aborts === 1);
  assert.equal(s.requests[REFRESH], 1);
  assert.equal(s.handled[REFRESH], undefined);
  // The handler never ran: the token was not rotated, so it still works (and is now handled once).
  assert.equal((await E.refresh(rt)).status, 200);
  s = await stats();
  assert.equal(s.requests[REFRESH], 2);
  assert.equal(s.handled[REFRESH], 1);
});

test('the same over HTTP/2: closing the stream lets the held request go; the session stays usable', async () => {
  const T = await emulator({ tls: true });
  const session = http2.connect(T.info.base_url.replace('/api/v0', ''), { ca: fs.readFileSync(T.info.ca_file) });
  // The test helpers' fetch does not trust the emulator's CA: the dev API goes over the same session.
  const dev = (p, body) => new Promise((resolve, reject) => {
    const r = session.request({ ':method': body ? 'POST' : 'GET', ':path': `/dev${p}`, 'x-cotter-dev-token': T.info.dev_token, 'content-type': 'application/json' });
    let b = '';
    r.setEncoding('utf8');
    r.on('data', (c) => { b += c; });
    r.on('end', () => resolve(JSON.parse(b)));
    r.on('error', reject);
    r.end(body ? JSON.stringify(body) : undefined);
  });
  try {
    await dev('/faults', { route: JWKS, latency_ms: 60000 });
    const held = session.request({ ':path': '/api/v0/token/jwks' });
    held.on('error', () => {});
    held.end();
    for (let s = await dev('/stats'); s.requests[JWKS] !== 1; s = await dev('/stats'));
    held.close(http2.constants.NGHTTP2_CANCEL);
    let s = await dev('/stats');
    while (s.client_aborts !== 1) s = await dev('/stats');
    assert.equal(s.handled[JWKS], undefined);
    assert.equal(s.h2_streams, 1);
    const again = await new Promise((resolve) => {
      const r = session.request({ ':path': '/api/v0/token/jwks' });
      r.on('response', (h) => resolve(h[':status']));
      r.resume();
      r.end();
    });
    assert.equal(again, 200);
  } finally {
    session.close();
    await T.close();
  }
});

test('a body that stops mid-way: truncate with hang sends half and then nothing; the client leaving is counted', async () => {
  await E.dev('/stats/reset', { method: 'POST' });
  const full = (await E.api('/token/jwks')).body;
  const fullLength = Buffer.byteLength(JSON.stringify(full));
  await E.dev('/faults', { method: 'POST', body: { route: JWKS, truncate: true, hang: true } });
  const call = start(E.info.jwks_url);
  const part = await call.firstData;
  assert.ok(part.length > 0 && part.length < fullLength, `${part.length} of ${fullLength}`);
  call.req.destroy();
  await call.response;
  const s = await until((x) => x.client_aborts === 1);
  assert.equal(s.handled[JWKS], 2);
});

test('slow_drip with a long interval: the first chunk, then a stall; the client leaving stops it', async () => {
  await E.dev('/stats/reset', { method: 'POST' });
  await E.dev('/faults', { method: 'POST', body: { route: JWKS, slow_drip: true, chunk_bytes: 10, interval_ms: 60000 } });
  const call = start(E.info.jwks_url);
  assert.equal((await call.firstData).length, 10);
  call.req.destroy();
  await call.response;
  await until((x) => x.client_aborts === 1);
});

test('a request held for a minute does not hold up close()', { timeout: 30000 }, async () => {
  const F = await emulator();
  await F.dev('/faults', { method: 'POST', body: { route: JWKS, latency_ms: 60000 } });
  const call = start(F.info.jwks_url);
  await until((x) => x.requests[JWKS] === 1, F);
  await F.close();
  assert.ok((await call.response).error);
});

test('held requests keep neither the emulator nor the process alive: an embedding process exits by itself', { timeout: 60000 }, async () => {
  // The child starts an emulator, has one request held by latency, one by slow_drip and one by truncate+hang,
  // closes the emulator, and must then exit on its own (a leaked timer or socket would keep it running).
  const script = `
    const { startEmulator } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const http = require('node:http');
    (async () => {
      const emu = await startEmulator({});
      const dev = (p, b) => fetch(emu.info.dev_url + p, { method: b ? 'POST' : 'GET', headers: { 'X-Cotter-Dev-Token': emu.info.dev_token }, body: b && JSON.stringify(b) }).then((r) => r.json());
      await dev('/faults', { faults: [{ route: '${JWKS}', latency_ms: 600000 }, { route: '${JWKS}', slow_drip: true, interval_ms: 600000 },
        { route: '${JWKS}', truncate: true, hang: true }] });
      for (let i = 0; i < 3; i++) http.get(emu.info.jwks_url, { agent: false }, (res) => res.on('data', () => {})).on('error', () => {});
      while ((await dev('/stats')).requests['${JWKS}'] !== 3);
      await emu.close();
      process.stdout.write('closed\\n');
    })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 50000);
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  assert.equal(out, 'closed\n');
  assert.equal(signal, null, 'the process had to be killed: something kept it alive');
  assert.equal(code, 0);
});
