'use strict';
// Fault injection (every kind), stats counters, and connection counting.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { emulator, rawRequest } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());
test.afterEach(() => E.dev('/faults', { method: 'DELETE' }));

const REFRESH = 'POST /api/v0/token/:api_key_id';
const fault = (spec) => E.dev('/faults', { method: 'POST', body: spec });
const jwks = () => rawRequest(E.info.jwks_url);

test('status fault with Retry-After for the next N requests of one route only', async () => {
  const f = await fault({ route: 'GET /api/v0/token/jwks', count: 2, status: 429, retry_after: 1 });
  assert.equal(f.status, 200);
  assert.equal(f.body.faults.length, 1);
  for (let i = 0; i < 2; i++) {
    const r = await jwks();
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(JSON.parse(r.body).type, '');
  }
  assert.equal((await jwks()).status, 200);
  // Other routes were never affected.
  const f2 = await fault({ route: 'GET /api/v0/token/jwks', status: 503 });
  assert.equal(f2.status, 200);
  assert.equal((await E.api('/user?identifier=a%40b.co', { headers: E.key })).status, 200);
  assert.equal((await jwks()).status, 503);
});

test('status fault on refresh does not consume the refresh token; custom body', async () => {
  const id = await E.login();
  await fault({ route: REFRESH, status: 500, body: { msg: 'boom', type: '' } });
  const r = await E.refresh(id.oauth_token.refresh_token);
  assert.equal(r.status, 500);
  assert.deepEqual(r.body, { msg: 'boom', type: '' });
  assert.equal((await E.refresh(id.oauth_token.refresh_token)).status, 200);
});

test('"*" route matches every non-dev route, never the dev API', async () => {
  await fault({ route: '*', count: 1, status: 502 });
  assert.equal((await E.dev('/stats')).status, 200);
  assert.equal((await E.api('/token/jwks')).status, 502);
  assert.equal((await E.api('/token/jwks')).status, 200);
});

test('connection reset', async () => {
  await fault({ route: 'GET /api/v0/token/jwks', reset: true });
  const r = await jwks();
  assert.ok(r.error, 'expected a socket error');
  assert.match(r.error.code || r.error.message, /ECONNRESET|socket hang up|aborted/);
  assert.equal((await jwks()).status, 200);
});

test('reset after handling: the refresh happened but the response was lost', async () => {
  const id = await E.login();
  await fault({ route: REFRESH, reset: true, after: true });
  const r = await rawRequest(`${E.info.base_url}/token/${E.info.api_key_id}`, { method: 'POST', headers: { ...E.key, 'Content-Type': 'application/json' },
    body: { grant_type: 'refresh_token', refresh_token: id.oauth_token.refresh_token } });
  assert.ok(r.error);
  const again = await E.refresh(id.oauth_token.refresh_token);
  assert.equal(again.status, 400);
  assert.match(again.body.msg, /not valid/);
});

test('truncated body: Content-Length larger than what is sent, then close', async () => {
  await fault({ route: 'GET /api/v0/token/jwks', truncate: true });
  const r = await jwks();
  assert.ok(r.error, 'expected a premature close');
  assert.equal(r.status, 200);
  assert.ok(Number(r.headers['content-length']) > r.body.length);
  assert.ok(r.body.length > 0);
});

test('malformed JSON body', async () => {
  await fault({ route: 'GET /api/v0/token/jwks', malformed_json: true });
  const r = await jwks();
  assert.equal(r.status, 200);
  assert.equal(Number(r.headers['content-length']), r.body.length);
  assert.throws(() => JSON.parse(r.body.toString()));
  assert.ok(r.body.toString().startsWith('{"keys":['));
});

test('oversized body (10 MiB by default, with or without Content-Length)', async () => {
  await fault({ route: 'GET /api/v0/token/jwks' , oversized: true });
  const r = await jwks();
  assert.equal(r.body.length, 10 * 1024 * 1024);
  assert.equal(Number(r.headers['content-length']), 10 * 1024 * 1024);
  assert.equal(JSON.parse(r.body.toString()).padding.length, 10 * 1024 * 1024 - 14);
  await fault({ route: 'GET /api/v0/token/jwks', oversized: true, size_bytes: 2 * 1024 * 1024, chunked: true });
  const c = await jwks();
  assert.equal(c.headers['transfer-encoding'], 'chunked');
  assert.equal(c.body.length, 2 * 1024 * 1024);
});

test('slow-drip body', async () => {
  await fault({ route: 'GET /api/v0/token/jwks', slow_drip: true, chunk_bytes: 40, interval_ms: 30 });
  const t0 = Date.now();
  const r = await jwks();
  const elapsed = Date.now() - t0;
  const n = Math.ceil(r.body.length / 40);
  assert.equal(r.status, 200);
  assert.ok(JSON.parse(r.body.toString()).keys.length >= 1);
  assert.ok(r.times.length >= Math.min(n, 3), `expected several chunks, got ${r.times.length}`);
  assert.ok(elapsed >= (n - 1) * 30 - 15, `took ${elapsed} ms for ${n} chunks`);
});

test('added latency, alone or with a status', async () => {
  await fault({ route: 'GET /api/v0/token/jwks', latency_ms: 200 });
  let t0 = Date.now();
  assert.equal((await jwks()).status, 200);
  assert.ok(Date.now() - t0 >= 190);
  await fault({ route: 'GET /api/v0/token/jwks', latency_ms: 150, status: 504 });
  t0 = Date.now();
  assert.equal((await jwks()).status, 504);
  assert.ok(Date.now() - t0 >= 140);
});

test('JWKS faults: redirect and non-JSON', async () => {
  await fault({ route: 'GET /api/v0/token/jwks', redirect: 'http://127.0.0.1:1/other-jwks' });
  const r = await jwks();
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'http://127.0.0.1:1/other-jwks');
  await fault({ route: 'GET /api/v0/token/jwks', redirect: 'file:///etc/passwd', redirect_status: 307 });
  assert.equal((await jwks()).status, 307);
  await fault({ route: 'GET /api/v0/token/jwks', non_json: true });
  const h = await jwks();
  assert.equal(h.status, 200);
  assert.match(h.headers['content-type'], /text\/html/);
  assert.throws(() => JSON.parse(h.body.toString()));
});

test('fault specs are validated', async () => {
  for (const bad of [{ route: 'GET /nope', status: 500 }, { status: 500 }, { route: '*' }, { route: '*', status: 'x' },
    { route: '*', status: 500, reset: true }, { route: '*', status: 500, count: 0 }, { route: '*', redirect: 5 }, []]) {
    const r = await fault(bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
  // A batch is all-or-nothing.
  const r = await E.dev('/faults', { method: 'POST', body: { faults: [{ route: '*', status: 500 }, { route: 'bad' }] } });
  assert.equal(r.status, 400);
  assert.deepEqual((await E.dev('/faults')).body.faults, []);
  const ok = await E.dev('/faults', { method: 'POST', body: { faults: [{ route: '*', status: 500, count: 3 }, { route: REFRESH, reset: true }] } });
  assert.equal(ok.body.faults.length, 2);
  assert.equal((await E.dev('/faults', { method: 'DELETE' })).status, 200);
  assert.equal((await jwks()).status, 200);
});

test('stats count requests per normalized route and accepted connections', async () => {
  await E.dev('/stats/reset', { method: 'POST' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path) => new Promise((resolve, reject) => {
    http.get(E.info.base_url + path, { agent, headers: E.key }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
  });
  for (let i = 0; i < 5; i++) await get('/token/jwks');
  await get('/user/00000000-0000-0000-0000-000000000000');
  await get('/user/11111111-0000-0000-0000-000000000000');
  agent.destroy();
  const s = (await E.dev('/stats')).body;
  assert.equal(s.requests['GET /api/v0/token/jwks'], 5);
  assert.equal(s.requests['GET /api/v0/user/:id'], 2);
  // One keep-alive connection for all seven, plus the one fetch used for /dev/stats.
  assert.ok(s.connections >= 1 && s.connections <= 2, `connections ${s.connections}`);
  assert.equal(Object.keys(s.requests).some((k) => k.includes('/dev')), false);
  const z = (await E.dev('/stats/reset', { method: 'POST' })).body;
  assert.deepEqual(z.requests, {});
  assert.equal(z.connections, 0);
});
