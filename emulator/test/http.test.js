'use strict';
// HTTP-level behaviour: error shape, 404/405, body cap (413), malformed JSON, CORS, HEAD.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { emulator, rawRequest } = require('./helpers');

let E;
test.before(async () => { E = await emulator({ maxBodyBytes: 64 * 1024 }); });
test.after(() => E.close());

test('unknown path is 404 JSON; wrong method is 405 with Allow', async () => {
  const r = await E.api('/nope');
  assert.equal(r.status, 404);
  assert.deepEqual(Object.keys(r.body), ['msg', 'type']);
  const m = await E.api('/token/jwks', { method: 'POST', body: {} });
  assert.equal(m.status, 405);
  assert.equal(m.headers.get('allow'), 'GET');
  const m2 = await E.api(`/token/${E.info.api_key_id}`, { method: 'GET' });
  assert.equal(m2.status, 405);
  assert.match(m2.headers.get('allow'), /POST/);
  assert.match(m2.headers.get('allow'), /DELETE/);
  assert.equal((await E.api('/user/create', { headers: E.key })).status, 405);
});

test('malformed and non-object JSON bodies are 400, never a crash', async () => {
  for (const body of ['{', '{"a":', 'null', '[1,2]', '"str"', '\u0000\u0001', '{"grant_type": "refresh_token",}']) {
    const r = await E.api(`/token/${E.info.api_key_id}`, { method: 'POST', headers: { ...E.key, 'Content-Type': 'application/json' }, body });
    assert.equal(r.status, 400, body);
    assert.equal(r.body.type, '');
  }
  const w = await E.api('/verify/get_identity', { method: 'POST', headers: { ...E.key, 'Content-Type': 'application/json' }, body: '{oops' });
  assert.equal(w.status, 400);
  // Still serving.
  assert.equal((await E.api('/token/jwks')).status, 200);
});

test('bodies over the cap are 413 (declared or streamed)', async () => {
  const big = JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(70 * 1024) });
  const r = await rawRequest(`${E.info.base_url}/token`, { method: 'POST', headers: { ...E.key, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(big) }, body: big });
  assert.equal(r.status, 413);
  assert.equal(JSON.parse(r.body).type, '');
  // Chunked upload without Content-Length: cut off while streaming.
  const status = await new Promise((resolve, reject) => {
    const s = net.connect(new URL(E.info.base_url).port, '127.0.0.1', () => {
      s.write(`POST /api/v0/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAPI_KEY_ID: ${E.info.api_key_id}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n`);
      const chunk = 'a'.repeat(16 * 1024);
      for (let i = 0; i < 6; i++) s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    });
    let buf = '';
    s.on('data', (d) => { buf += d; if (buf.includes('\r\n')) { resolve(buf.split(' ')[1]); s.destroy(); } });
    s.on('error', reject);
  });
  assert.equal(status, '413');
  assert.equal((await E.api('/token/jwks')).status, 200);
});

test('API_KEY_ID / API_SECRET_KEY headers with underscores arrive (raw socket)', async () => {
  const status = await new Promise((resolve, reject) => {
    const s = net.connect(new URL(E.info.base_url).port, '127.0.0.1', () => {
      s.write(`GET /api/v0/user/list?page=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAPI_KEY_ID: ${E.info.api_key_id}\r\nAPI_SECRET_KEY: ${E.info.api_secret_key}\r\nConnection: close\r\n\r\n`);
    });
    let buf = '';
    s.on('data', (d) => { buf += d; });
    s.on('end', () => resolve(buf.split(' ')[1]));
    s.on('error', reject);
  });
  assert.equal(status, '200');
});

test('CORS: preflight and credentialed responses for browser SDKs', async () => {
  const pre = await E.api(`/token/${E.info.api_key_id}`, { method: 'OPTIONS', headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  assert.match(pre.headers.get('access-control-allow-headers'), /API_KEY_ID/);
  const r = await E.api('/token/jwks', { headers: { Origin: 'http://localhost:3000' } });
  assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
  assert.equal((await E.api('/nope', { method: 'OPTIONS' })).status, 404);
});

test('HEAD works on GET routes', async () => {
  const r = await rawRequest(E.info.jwks_url, { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 0);
  assert.ok(Number(r.headers['content-length']) > 0);
});

test('index page and dev index', async () => {
  const r = await fetch(E.origin + '/');
  assert.equal(r.status, 200);
  const d = await E.dev('');
  assert.equal(d.body.api_key_id, E.info.api_key_id);
  assert.ok(d.body.endpoints.includes('POST /dev/faults'));
});

test('hostile bodies on every route never produce a 5xx', async () => {
  const { build } = require('../lib/routes');
  const bodies = ['', '{}', '[]', 'null', '{"a":', '\u00ff\u00fe', JSON.stringify({ grant_type: 'refresh_token', refresh_token: {} }),
    JSON.stringify({ grant_type: 'identity_token', identity_token: { identifier: 5, signature: [] } }),
    JSON.stringify({ grant_type: 'event_token', event_token: { client_user_id: {}, new: 'x' } }),
    JSON.stringify({ token: 5, custom_attributes: [], refresh_token: 7, identifier: { a: 1 }, identifiers: [null],
      code_verifier: 1, authorization_code: {}, challenge_id: '9'.repeat(30), redirect_url: [], oauth_token: 'x', user_id: {}, claims: 'x', ttl: 'x' }),
    'api_key=x&redirect_url=%ZZ&identifier=' + 'a'.repeat(5000)];
  const headerSets = [{}, E.key, E.secret, { ...E.key, Cookie: 'cotter_refresh_token=%E0%A4%A' }];
  for (const r of build().table) {
    if (r.dev) continue;
    for (const fill of [encodeURIComponent('x%/..'), E.info.api_key_id]) {
    const path = r.pattern.replace(/:[a-z_]+/g, () => fill);
    for (const body of r.method === 'GET' ? [undefined] : [...bodies, JSON.stringify({ grant_type: 'refresh_token' })]) {
      for (const headers of headerSets) {
        const res = await fetch(E.origin + path + '?page=-1&identifier=&t=&api_key=' + E.info.api_key_id, {
          method: r.method, headers: { 'Content-Type': 'application/json', ...headers }, body, redirect: 'manual' });
        await res.arrayBuffer();
        assert.ok(res.status < 500, `${r.name} ${JSON.stringify(body)} → ${res.status}`);
      }
    }
    }
  }
});
