'use strict';
// What the security review of issue 13 found open in the emulator, each closed and pinned here:
// the dev API's token, no CORS on /dev, the Host allow-list (DNS rebinding), CORS on the API only for the
// origins of the project's allowed URLs, the identity grant's identifier_type, the PKCE verifier's format,
// canonical refresh-token ids, and the warning for a non-loopback bind.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const { emulator, rawRequest, req, pkce } = require('./helpers');

let E;
test.before(async () => { E = await emulator(); });
test.after(() => E.close());

const TOKEN = 'X-Cotter-Dev-Token';

/** One HTTP request written by hand (so any Host, or none, can be sent); resolves to {status, head, body}. */
function rawHttp(port, text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d) => { buf += d; });
    s.on('end', () => {
      const [head, ...rest] = buf.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), head, body: rest.join('\r\n\r\n') });
    });
    s.on('error', reject);
  });
}

test('the dev API needs the dev_token of the JSON line: none or a wrong one is 401, compared in constant time', async () => {
  assert.match(E.info.dev_token, /^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
  const none = await req(E.info.dev_url + '/projects');
  assert.equal(none.status, 401);
  assert.match(none.body.msg, /X-Cotter-Dev-Token/);
  assert.doesNotMatch(JSON.stringify(none.body), new RegExp(E.info.dev_token));
  for (const wrong of ['x', E.info.dev_token.slice(0, -1) + (E.info.dev_token.endsWith('A') ? 'B' : 'A'), E.info.dev_token + 'x', '']) {
    const r = await req(E.info.dev_url + '/projects', { headers: { [TOKEN]: wrong } });
    assert.equal(r.status, 401, wrong);
  }
  // Every dev route, every method: nothing leaks without the token (the secret is in /dev and /dev/projects).
  const { build } = require('../lib/routes');
  for (const r of build().table.filter((x) => x.dev)) {
    const res = await req(E.origin + r.pattern, { method: r.method, body: r.method === 'GET' ? undefined : {} });
    assert.equal(res.status, 401, r.name);
    assert.doesNotMatch(JSON.stringify(res.body), new RegExp(E.info.api_secret_key));
  }
  // Nothing outside /dev gives the token or the secret away (the index page names the dev URL only).
  const index = await req(E.origin + '/');
  assert.doesNotMatch(index.body, new RegExp(`${E.info.dev_token}|${E.info.api_secret_key}`));
  const ok = await req(E.info.dev_url + '/projects', { headers: { [TOKEN]: E.info.dev_token } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body[0].api_secret_key, E.info.api_secret_key);
});

test('a chosen dev token (option devToken) is the one required', async () => {
  const E2 = await emulator({ devToken: 'my-own-dev-token-0123' });
  try {
    assert.equal(E2.info.dev_token, 'my-own-dev-token-0123');
    assert.equal((await req(E2.info.dev_url, { headers: { [TOKEN]: 'my-own-dev-token-0123' } })).status, 200);
    assert.equal((await req(E2.info.dev_url, { headers: { [TOKEN]: E.info.dev_token } })).status, 401);
  } finally { await E2.close(); }
  await assert.rejects(emulator({ devToken: 'short' }), /dev token/);
});

test('no CORS on /dev: no Access-Control-* for any Origin (also null), preflights do not succeed', async () => {
  for (const origin of ['http://localhost:3000', 'https://evil.example', 'null']) {
    const r = await E.dev('/stats', { headers: { Origin: origin } });
    assert.equal(r.status, 200);
    for (const [k] of r.headers) assert.doesNotMatch(k, /^access-control-/, `${origin}: ${k}`);
    const pre = await req(E.info.dev_url + '/stats', { method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-cotter-dev-token' } });
    for (const [k] of pre.headers) assert.doesNotMatch(k, /^access-control-/, `preflight ${origin}: ${k}`);
  }
});

test('only a Host of localhost, 127.0.0.1, [::1] or the bound address is served (DNS-rebinding defence)', async () => {
  const port = new URL(E.origin).port;
  const dev = { [TOKEN]: E.info.dev_token };
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST', '127.0.0.1']) {
    const r = await rawRequest(`${E.info.dev_url}/stats`, { headers: { ...dev, Host: host } });
    assert.equal(r.status, 200, host);
  }
  for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.nip.io:${port}`, 'localhost.evil.example', '127.0.0.2',
    `localhost:${port}@evil.example`, 'localhost:abc', '[::1']) {
    for (const url of [`${E.info.dev_url}/projects`, E.info.jwks_url, `${E.origin}/app`, `${E.origin}/`]) {
      const r = await rawRequest(url, { headers: { ...dev, Host: host } });
      assert.equal(r.status, 403, `${host} ${url}`);
      const body = JSON.parse(r.body);
      assert.match(body.msg, /Host .* is not allowed.*--allowed-host/);
      assert.doesNotMatch(r.body.toString(), new RegExp(E.info.api_secret_key));
    }
  }
  // HTTP/1.0 without a Host header at all.
  const bare = await rawHttp(port, `GET /dev/projects HTTP/1.0\r\n${TOKEN}: ${E.info.dev_token}\r\n\r\n`);
  assert.equal(bare.status, 403);
  assert.doesNotMatch(bare.body, new RegExp(E.info.api_secret_key));
});

test('--allowed-host serves one more name, and only that one', async () => {
  const E2 = await emulator({ allowedHosts: ['emu.test', '192.0.2.7'] });
  try {
    const port = new URL(E2.origin).port;
    for (const [host, want] of [[`emu.test:${port}`, 200], ['EMU.test', 200], ['192.0.2.7', 200], ['other.test', 403], ['sub.emu.test', 403]]) {
      assert.equal((await rawRequest(E2.info.jwks_url, { headers: { Host: host } })).status, want, host);
    }
  } finally { await E2.close(); }
  await assert.rejects(emulator({ allowedHosts: ['http://x.test/'] }), /allowed hosts/);
});

test('API CORS: only origins of the project\'s allowed redirect URLs are reflected, never *, null or any other', async () => {
  const allowed = await E.api('/token/jwks', { headers: { Origin: 'http://localhost:3000' } });
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
  assert.match(allowed.headers.get('vary'), /Origin/);
  for (const origin of ['https://evil.example', 'null', 'https://localhost:3000', 'http://localhost.evil.example',
    'http://localhost:3000/path', 'http://user@localhost:3000', 'file://', '*']) {
    const r = await E.api('/token/jwks', { headers: { Origin: origin } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null, origin);
    assert.equal(r.headers.get('access-control-allow-credentials'), null, origin);
    assert.match(r.headers.get('vary'), /Origin/, origin);
    const pre = await E.api(`/token/${E.info.api_key_id}`, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.headers.get('access-control-allow-origin'), null, `preflight ${origin}`);
  }
  const pre = await E.api(`/token/${E.info.api_key_id}`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:8080', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8080');
  assert.match(pre.headers.get('access-control-allow-headers'), /API_KEY_ID/);

  // A project that allows only https://app.example.com/callback: its origin, and only for that project.
  const proj = (await E.dev('/projects', { method: 'POST', body: { allowed_urls: ['https://app.example.com/callback', 'cotter://auth'] } })).body;
  const app = { Origin: 'https://app.example.com' };
  assert.equal((await E.api('/token/jwks', { headers: { ...app, API_KEY_ID: proj.api_key_id } })).headers.get('access-control-allow-origin'), 'https://app.example.com');
  assert.equal((await E.api('/token/jwks', { headers: { ...app, API_KEY_ID: E.info.api_key_id } })).headers.get('access-control-allow-origin'), null);
  assert.equal((await E.api('/token/jwks', { headers: { Origin: 'http://localhost:3000', API_KEY_ID: proj.api_key_id } })).headers.get('access-control-allow-origin'), null);
  assert.equal((await E.api(`/token/${proj.api_key_id}`, { method: 'OPTIONS', headers: { ...app, 'Access-Control-Request-Method': 'POST' } }))
    .headers.get('access-control-allow-origin'), 'https://app.example.com');
  assert.equal((await E.api(`/token/${E.info.api_key_id}`, { method: 'OPTIONS', headers: { ...app, 'Access-Control-Request-Method': 'POST' } }))
    .headers.get('access-control-allow-origin'), null);
});

test('identity grant: only identifier_type EMAIL or PHONE (a shifted boundary keeps the signature but is refused)', async () => {
  const it = (await E.dev('/identity_token', { method: 'POST', body: { identifier: 'shift@example.com' } })).body.identity_token;
  const grant = (t) => E.api('/token', { method: 'POST', headers: E.secret, body: { grant_type: 'identity_token', identity_token: t } });
  assert.equal((await grant(it)).status, 200);
  // "shift@example.com" + "EMAIL" signs the same bytes as "shift@example.comE" + "MAIL".
  const shifted = { ...it, identifier: it.identifier + 'E', identifier_type: 'MAIL' };
  const r = await grant(shifted);
  assert.equal(r.status, 400);
  assert.match(r.body.msg, /identifier_type must be EMAIL or PHONE/);
  for (const type of ['email', 'Email', 'USERNAME', 'EMAIL ']) assert.equal((await grant({ ...it, identifier_type: type })).status, 400, type);
});

test('PKCE: code_verifier must be 43..128 characters of the RFC 7636 alphabet', async () => {
  const exchange = async (verifier) => {
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    const l = await E.loginViaPage({ challenge });
    return E.api('/verify/get_identity', { method: 'POST', headers: E.key,
      body: { code_verifier: verifier, authorization_code: l.code, challenge_id: l.challenge_id, redirect_url: l.redirect_url } });
  };
  for (const bad of ['a', 'x'.repeat(42), 'y'.repeat(129), 'a'.repeat(42) + '+', 'a'.repeat(42) + '/', 'a'.repeat(42) + '=', 'a'.repeat(42) + ' ',
    'a'.repeat(42) + 'é']) {
    const r = await exchange(bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.match(r.body.msg, /code_verifier must be 43-128 characters/);
  }
  for (const good of ['a'.repeat(43), 'Az09-._~'.repeat(16), pkce().verifier]) assert.equal((await exchange(good)).status, 200, good);
});

test('a refresh token id must be canonical: 000<id>:<secret> and +<id>:<secret> are not <id>:<secret>', async () => {
  const rt = (await E.dev('/login', { method: 'POST', body: { identifier: 'canon@example.com' } })).body.oauth_token.refresh_token;
  for (const alias of ['000' + rt, '0' + rt, ' ' + rt, rt.replace(/^(\d+)/, '$1.0'), rt.replace(/^/, '+')]) {
    const r = await E.refresh(alias);
    assert.equal(r.status, 400, alias);
    assert.match(r.body.msg, /not valid/);
    const out = await E.api(`/token/${E.info.api_key_id}`, { method: 'DELETE', headers: E.key, body: { refresh_token: alias } });
    assert.equal(out.body.revoked, false, alias);
  }
  assert.equal((await E.refresh(rt)).status, 200);
});

test('challenge_id must be canonical too ("007" is not 7)', async () => {
  const l = await E.loginViaPage();
  const r = await E.api('/verify/get_identity', { method: 'POST', headers: E.key,
    body: { code_verifier: l.verifier, authorization_code: l.code, challenge_id: '00' + l.challenge_id, redirect_url: l.redirect_url } });
  assert.equal(r.status, 400);
  assert.match(r.body.msg, /challenge_id/);
});
