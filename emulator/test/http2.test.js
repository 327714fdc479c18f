'use strict';
// --tls serves HTTP/2 with an HTTP/1.1 fallback (ALPN h2, http/1.1): every kind of route, every fault kind and the
// login page over both; /dev/stats counts TCP connections, HTTP/2 sessions and streams; curl's --http2 and
// --http1.1 both work. Also: `connections` counts real TCP connections over plain HTTP.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const https = require('node:https');
const { emulator, pkce } = require('./helpers');

let T; // the --tls emulator
let ca;
test.before(async () => {
  T = await emulator({ tls: true });
  ca = fs.readFileSync(T.info.ca_file);
});
test.after(() => T.close());

const ORIGIN = () => T.info.base_url.replace('/api/v0', '');

/** One HTTP/2 session to the emulator (ALPN h2). */
function h2Session(origin = ORIGIN()) {
  return new Promise((resolve, reject) => {
    const s = http2.connect(origin, { ca });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** A request on `session`: {status, headers, body: Buffer, error?, chunks}. */
function h2(session, path, { method = 'GET', headers = {}, body, form } = {}) {
  return new Promise((resolve) => {
    const h = { ':method': method, ':path': path, ...headers };
    let payload;
    if (body !== undefined) {
      payload = form ? new URLSearchParams(body).toString() : JSON.stringify(body);
      h['content-type'] = form ? 'application/x-www-form-urlencoded' : 'application/json';
    }
    const req = session.request(h);
    const out = { status: 0, headers: {}, body: Buffer.alloc(0), chunks: 0 };
    const parts = [];
    req.on('response', (hs) => { out.status = hs[':status']; out.headers = hs; });
    req.on('data', (c) => { parts.push(c); out.chunks++; });
    req.on('end', () => { out.body = Buffer.concat(parts); resolve(out); });
    req.on('error', (error) => { out.body = Buffer.concat(parts); out.error = error; resolve(out); });
    req.end(payload);
  });
}

/** The same over HTTP/1.1 on the TLS port (a fresh connection, ALPN http/1.1 only). */
function h1(path, { method = 'GET', headers = {}, body, form } = {}) {
  return new Promise((resolve) => {
    const u = new URL(ORIGIN() + path);
    const h = { ...headers };
    let payload;
    if (body !== undefined) {
      payload = form ? new URLSearchParams(body).toString() : JSON.stringify(body);
      h['content-type'] = form ? 'application/x-www-form-urlencoded' : 'application/json';
    }
    const out = { status: 0, headers: {}, body: Buffer.alloc(0), chunks: 0 };
    const parts = [];
    // servername: the certificate names localhost (else Node would take the name from a test's own Host header).
    const req = https.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, ca, agent: false,
      servername: 'localhost', ALPNProtocols: ['http/1.1'] }, (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      out.alpn = res.socket.alpnProtocol;
      res.on('data', (c) => { parts.push(c); out.chunks++; });
      res.on('end', () => { out.body = Buffer.concat(parts); resolve(out); });
      res.on('error', (error) => { out.body = Buffer.concat(parts); out.error = error; resolve(out); });
      res.on('aborted', () => { out.body = Buffer.concat(parts); out.error = out.error || new Error('aborted'); resolve(out); });
    });
    req.on('error', (error) => { out.body = Buffer.concat(parts); out.error = error; resolve(out); });
    req.end(payload);
  });
}

const json = (r) => JSON.parse(r.body.toString());
const devH = () => ({ 'x-cotter-dev-token': T.info.dev_token });
const keyH = () => ({ api_key_id: T.info.api_key_id });

/** Both protocols behind one signature: call(path, opts). */
async function protocols() {
  const session = await h2Session();
  return { session, list: [['HTTP/2', (p, o) => h2(session, p, o)], ['HTTP/1.1', (p, o) => h1(p, o)]] };
}

test('ALPN: h2 for clients that offer it, http/1.1 for the others', async () => {
  const s = await h2Session();
  try {
    assert.equal(s.alpnProtocol, 'h2');
    const r = await h2(s, '/api/v0/token/jwks');
    assert.equal(r.status, 200);
    assert.ok(json(r).keys.length >= 1);
  } finally { s.close(); }
  const r1 = await h1('/api/v0/token/jwks');
  assert.equal(r1.status, 200);
  assert.equal(r1.alpn, 'http/1.1');
});

test('concurrent requests over ONE HTTP/2 session: stats show 1 connection, 1 session and N streams', async () => {
  assert.equal((await h1('/dev/stats/reset', { method: 'POST', headers: devH() })).status, 200);
  const s = await h2Session();
  try {
    const login = json(await h2(s, '/dev/login', { method: 'POST', headers: devH(), body: { identifier: 'h2@example.com' } }));
    const N = 12;
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => (i === 0
      ? h2(s, `/api/v0/token/${T.info.api_key_id}`, { method: 'POST', headers: keyH(), body: { grant_type: 'refresh_token', refresh_token: login.oauth_token.refresh_token } })
      : h2(s, i % 2 ? '/api/v0/token/jwks' : `/api/v0/user/${login.user.ID}`, { headers: keyH() }))));
    for (const r of rs) assert.equal(r.status, 200, r.body.toString());
    const stats = json(await h2(s, '/dev/stats', { headers: devH() }));
    assert.equal(stats.connections, 1);
    assert.equal(stats.h2_sessions, 1);
    assert.equal(stats.h2_streams, N); // dev requests are not counted, as in `requests`
    assert.equal(stats.requests['GET /api/v0/token/jwks'], N / 2);
  } finally { s.close(); }
});

test('every kind of route works over both: token grants, user API, get_identity with the login page, worker, HEAD, 404/405/413', async () => {
  const { session, list } = await protocols();
  try {
    for (const [name, call] of list) {
      const id = `page-${name === 'HTTP/2' ? 'two' : 'one'}@example.com`;
      // The hosted login page, form posts and all.
      const { verifier, challenge } = pkce();
      const params = { api_key: T.info.api_key_id, redirect_url: 'http://localhost:8912/cb', type: 'EMAIL', state: 's', code_challenge: challenge };
      const page = await call(`/app?${new URLSearchParams(params)}`);
      assert.equal(page.status, 200, name);
      assert.match(page.body.toString(), /id="identifier"/);
      const sent = await call('/app/identifier', { method: 'POST', form: true, body: { ...params, identifier: id } });
      assert.equal(sent.status, 200, name);
      const mail = json(await call(`/dev/mailbox?to=${encodeURIComponent(id)}`, { headers: devH() }));
      const done = await call('/app/otp', { method: 'POST', form: true, body: { sid: mail[0].session, otp: mail[0].otp } });
      assert.equal(done.status, 302, name);
      const loc = new URL(done.headers.location);
      assert.match(loc.protocol, /^http:$/);
      const gi = await call('/api/v0/verify/get_identity', { method: 'POST', headers: keyH(), body: { code_verifier: verifier,
        authorization_code: loc.searchParams.get('code'), challenge_id: Number(loc.searchParams.get('challenge_id')), redirect_url: params.redirect_url } });
      assert.equal(gi.status, 200, `${name} ${gi.body}`);
      assert.match(String(gi.headers['set-cookie']), /SameSite=None; Secure/);
      const tok = json(gi).oauth_token;
      const ref = await call(`/api/v0/token/${T.info.api_key_id}`, { method: 'POST', headers: keyH(), body: { refresh_token: tok.refresh_token } });
      assert.equal(ref.status, 200, name);
      const worker = await call('/verify', { method: 'POST', body: { oauth_token: { access_token: json(ref).access_token } } });
      assert.deepEqual(json(worker), { success: true });
      assert.equal((await call('/api/v0/user/list?page=0', { headers: { ...keyH(), api_secret_key: T.info.api_secret_key } })).status, 200);
      const head = await call('/api/v0/token/jwks', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal((await call('/nope')).status, 404);
      assert.equal((await call('/api/v0/token/jwks', { method: 'POST', body: {} })).status, 405);
      const big = await call(`/api/v0/token/${T.info.api_key_id}`, { method: 'POST', headers: keyH(), body: { refresh_token: 'x'.repeat(2 * 1024 * 1024) } });
      assert.equal(big.status, 413, name);
      // The Host allow-list applies to HTTP/2's :authority too.
      assert.equal((await call('/api/v0/token/jwks', { headers: name === 'HTTP/2' ? { ':authority': 'evil.example' } : { host: 'evil.example' } })).status, 403, name);
      assert.equal((await call('/dev/stats')).status, 401, name);
    }
  } finally { session.close(); }
});

test('every fault kind over both protocols (reset and truncate: RST_STREAM on HTTP/2, the session lives on)', async () => {
  const { session, list } = await protocols();
  const fault = (f) => h1('/dev/faults', { method: 'POST', headers: devH(), body: { route: 'GET /api/v0/token/jwks', ...f } });
  const jwks = (call) => call('/api/v0/token/jwks');
  try {
    for (const [name, call] of list) {
      const real = (await jwks(call)).body;
      await fault({ status: 429, retry_after: 7 });
      let r = await jwks(call);
      assert.equal(r.status, 429, name);
      assert.equal(r.headers['retry-after'], '7');

      await fault({ reset: true });
      r = await jwks(call);
      assert.ok(r.error, `${name}: reset must fail the request`);
      if (name === 'HTTP/2') assert.equal(r.error.code, 'ERR_HTTP2_STREAM_ERROR');
      assert.equal(r.status, 0, name);

      await fault({ truncate: true });
      r = await jwks(call);
      assert.ok(r.error, `${name}: truncate must fail the request`);
      assert.equal(r.status, 200, name);
      assert.ok(r.body.length > 0 && r.body.length < real.length, `${name}: ${r.body.length}`);

      await fault({ malformed_json: true });
      r = await jwks(call);
      assert.throws(() => JSON.parse(r.body.toString()));
      assert.equal(r.body.length, real.length);

      await fault({ oversized: true, size_bytes: 1 << 20 });
      r = await jwks(call);
      assert.equal(r.body.length, 1 << 20, name);
      await fault({ oversized: true, size_bytes: 1 << 16, chunked: true });
      r = await jwks(call);
      assert.equal(r.body.length, 1 << 16, name);
      assert.equal(r.headers['content-length'], undefined, name);

      await fault({ slow_drip: true, chunk_bytes: 64, interval_ms: 1 });
      r = await jwks(call);
      assert.equal(r.error, undefined, name);
      assert.deepEqual(r.body, real);
      assert.ok(r.chunks >= Math.ceil(real.length / 64) - 1, `${name}: ${r.chunks} chunks`);

      await fault({ non_json: true, non_json_status: 503 });
      r = await jwks(call);
      assert.equal(r.status, 503);
      assert.match(r.body.toString(), /<html>/);

      await fault({ redirect: 'http://169.254.169.254/latest', redirect_status: 307 });
      r = await jwks(call);
      assert.equal(r.status, 307);
      assert.equal(r.headers.location, 'http://169.254.169.254/latest');

      await fault({ latency_ms: 1 });
      assert.equal((await jwks(call)).status, 200, name);
    }
    // After the resets and truncations the HTTP/2 session still works (only streams were reset).
    assert.equal(session.destroyed, false);
    assert.equal((await h2(session, '/api/v0/token/jwks')).status, 200);
  } finally { session.close(); }
});

test('curl --http2 and --http1.1 both work against --tls', { skip: !curlHasHttp2() && 'curl with HTTP2 is not installed' }, async () => {
  const run = (args) => new Promise((resolve, reject) => execFile('curl', ['-sS', '--cacert', T.info.ca_file, '-o', '/dev/null',
    '-w', '%{http_code} %{http_version}', ...args, T.info.jwks_url], (err, out, errOut) => (err ? reject(new Error(errOut)) : resolve(out))));
  assert.equal(await run(['--http2']), '200 2');
  assert.equal(await run(['--http1.1']), '200 1.1');
});

function curlHasHttp2() {
  try { return /\bHTTP2\b/.test(require('node:child_process').execFileSync('curl', ['-V']).toString()); } catch { return false; }
}

test('plain HTTP: `connections` counts real TCP connections (keep-alive reuse is one)', async () => {
  const E = await emulator();
  try {
    const get = (agent) => new Promise((resolve, reject) => http.get(E.info.jwks_url, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject));
    await E.dev('/stats/reset', { method: 'POST' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) await get(agent);
    agent.destroy();
    let s = (await E.dev('/stats')).body;
    assert.equal(s.connections, 1);
    assert.equal(s.h2_sessions, 0);
    assert.equal(s.h2_streams, 0);
    await E.dev('/stats/reset', { method: 'POST' });
    for (let i = 0; i < 3; i++) await get(false); // a new connection each
    s = (await E.dev('/stats')).body;
    assert.equal(s.connections, 3);
    assert.equal(s.requests['GET /api/v0/token/jwks'], 3);
  } finally { await E.close(); }
});
