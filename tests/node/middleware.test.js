'use strict';
/**
 * @file tests/node/middleware.test.js
 * @brief requireAuth() under Express 5 and plain node:http against the emulator: valid, expired, forged, tampered,
 * wrong audience, missing and malformed credentials, and unreachable keys (503), with RFC 6750 challenges that
 * never echo the token.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const express = require('express');
const { startEmulator, forge, deadPort } = require('./helpers/emulator');
const { Verifier } = require('../../node/lib');
const { requireAuth, withAuth, authErrorHandler } = require('../../node/lib/middleware');

const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

/** The real signature over a payload with another `sub`. */
function tamper(realToken) {
  const [h, p, s] = realToken.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  claims.sub = '00000000-0000-0000-0000-000000000001';
  return `${h}.${b64u(claims)}.${s}`;
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

function close(server) {
  return new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); });
}

async function get(url, authorization) {
  const headers = authorization === undefined ? {} : { authorization };
  const r = await fetch(url, { headers });
  const text = await r.text();
  let body;
  try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; } // Express's own error page is HTML
  return { status: r.status, headers: r.headers, text, body };
}

test('requireAuth', async (t) => {
  const emu = await startEmulator();
  const servers = [];
  t.after(async () => {
    for (const s of servers) await close(s);
    await emu.stop();
  });
  const audience = emu.info.api_key_id;
  const opts = { audience, jwksUrl: emu.info.jwks_url };

  const minted = await emu.dev('/access_token', { identifier: 'mw@example.com', ttl: 600 });
  const good = minted.access_token;
  const expired = (await emu.dev('/access_token', { identifier: 'mw@example.com', ttl: -120 })).access_token;
  const otherAud = (await emu.dev('/access_token', { identifier: 'mw@example.com', claims: { aud: 'another-api-key' } })).access_token;
  const otherIss = (await emu.dev('/access_token', { identifier: 'mw@example.com', claims: { iss: 'https://evil.example' } })).access_token;

  // Express 5: the middleware on one route, the claims echoed by the handler.
  const app = express();
  const auth = requireAuth({ ...opts, realm: 'api' });
  t.after(() => auth.close());
  app.get('/me', auth, (req, res) => res.json({ sub: req.auth.sub, identifier: req.auth.identifier }));
  app.get('/boom', auth, () => { throw new Error('handler failure'); });
  app.use(authErrorHandler());
  app.use((err, req, res, next) => { res.status(500).json({ handled: err.message }); }); // eslint-disable-line no-unused-vars
  const expressServer = http.createServer(app);
  servers.push(expressServer);
  const expressUrl = await listen(expressServer);

  // node:http through withAuth().
  const plain = withAuth(opts, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sub: req.auth.sub, identifier: req.auth.identifier }));
  });
  t.after(() => plain.close());
  const plainServer = http.createServer(plain);
  servers.push(plainServer);
  const plainUrl = await listen(plainServer);

  // node:http calling the middleware by hand, as documented: requireAuth(...)(req, res, next), with a shared verifier.
  const shared = new Verifier(opts);
  t.after(() => shared.close());
  const manual = requireAuth({ verifier: shared, property: 'user' });
  const manualServer = http.createServer((req, res) => {
    manual(req, res, (err) => {
      if (err) return authErrorHandler()(err, req, res, () => res.end('unexpected'));
      return res.end(JSON.stringify({ sub: req.user.sub, identifier: req.user.identifier }));
    });
  });
  servers.push(manualServer);
  const manualUrl = await listen(manualServer);

  const targets = [['express', `${expressUrl}/me`], ['node:http withAuth', `${plainUrl}/me`], ['node:http manual', `${manualUrl}/me`]];
  for (const [name, url] of targets) {
    await t.test(`${name}: a valid token reaches the handler with its claims`, async () => {
      const r = await get(url, `Bearer ${good}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.sub, minted.access_claims.sub);
      assert.equal(r.body.identifier, 'mw@example.com');
      // The scheme is case-insensitive (RFC 7235) and extra spaces after it are allowed.
      assert.equal((await get(url, `bearer   ${good}`)).status, 200);
    });

    const rejected = [
      ['expired', expired, 'COTTER_EJWT_EXPIRED'],
      ['forged (signed by another key)', forge(good), 'COTTER_EJWT_SIGNATURE'],
      ['tampered payload', tamper(good), 'COTTER_EJWT_SIGNATURE'],
      ['wrong audience', otherAud, 'COTTER_EJWT_AUDIENCE'],
      ['wrong issuer', otherIss, 'COTTER_EJWT_ISSUER'],
      ['not a JWT', 'abc.def', 'COTTER_EJWT_MALFORMED'],
      ['alg none', `${b64u({ alg: 'none', typ: 'JWT' })}.${good.split('.')[1]}.`, 'COTTER_EJWT_ALG'],
      ['oversized', 'a'.repeat(15000), 'COTTER_EJWT_MALFORMED'],
    ];
    for (const [what, token, code] of rejected) {
      await t.test(`${name}: ${what} → 401 invalid_token ${code}`, async () => {
        const r = await get(url, `Bearer ${token}`);
        assert.equal(r.status, 401, r.text);
        const www = r.headers.get('www-authenticate');
        assert.match(www, /^Bearer /);
        assert.match(www, /error="invalid_token"/);
        assert.match(www, new RegExp(`error_description="${code}"`));
        assert.equal(r.body.error, 'invalid_token');
        // The token (or any of its segments) is never echoed.
        for (const seg of token.split('.').filter((s) => s.length > 8)) {
          assert.ok(!www.includes(seg) && !r.text.includes(seg), 'token echoed');
        }
      });
    }

    await t.test(`${name}: no credentials → 401 with a bare Bearer challenge`, async () => {
      for (const header of [undefined, '', 'Basic dXNlcjpwYXNz', 'Digest username="x"']) {
        const r = await get(url, header);
        assert.equal(r.status, 401, `${header}: ${r.text}`);
        const www = r.headers.get('www-authenticate');
        assert.match(www, /^Bearer\b/);
        assert.doesNotMatch(www, /error=/); // RFC 6750 §3.1: no error code when no credentials were sent
      }
    });

    await t.test(`${name}: malformed Authorization → 400 invalid_request`, async () => {
      for (const header of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer abc$def', 'Bearer "quoted"', 'Bearer a=b', ' ,', 'Bearer\tabc']) {
        const r = await get(url, header);
        assert.equal(r.status, 400, `${JSON.stringify(header)}: ${r.status} ${r.text}`);
        assert.match(r.headers.get('www-authenticate'), /^Bearer .*error="invalid_request"/);
        assert.equal(r.body.error, 'invalid_request');
      }
    });
  }

  await t.test('express: the realm is in every challenge', async () => {
    assert.match((await get(`${expressUrl}/me`)).headers.get('www-authenticate'), /^Bearer realm="api"$/);
    assert.match((await get(`${expressUrl}/me`, `Bearer ${expired}`)).headers.get('www-authenticate'), /^Bearer realm="api", error="invalid_token"/);
  });

  await t.test('express: an exception of the next handler is not turned into a 401', async () => {
    const r = await get(`${expressUrl}/boom`, `Bearer ${good}`);
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { handled: 'handler failure' });
  });

  await t.test('a server-side failure (a closed verifier) goes to next(err), not to a 401', async () => {
    const v = new Verifier(opts);
    const mw = requireAuth({ verifier: v });
    v.close();
    const app3 = express();
    app3.get('/', mw, (req, res) => res.end('unreachable'));
    app3.use((err, req, res, next) => { res.status(500).json({ code: err.code }); }); // eslint-disable-line no-unused-vars
    const s1 = http.createServer(app3);
    const s2 = http.createServer(withAuth({ verifier: v }, (req, res) => res.end('unreachable')));
    servers.push(s1, s2);
    const r1 = await get(`${await listen(s1)}/`, `Bearer ${good}`);
    assert.equal(r1.status, 500);
    assert.deepEqual(r1.body, { code: 'COTTER_EINVAL' });
    const r2 = await get(`${await listen(s2)}/`, `Bearer ${good}`);
    assert.equal(r2.status, 500);
    assert.deepEqual(r2.body, { error: 'server_error' });
  });

  await t.test('node:http withAuth: a throwing handler gives a bare 500', async () => {
    const h = withAuth({ verifier: shared }, () => { throw new Error(`secret ${good}`); });
    const s = http.createServer(h);
    servers.push(s);
    const r = await get(`${await listen(s)}/`, `Bearer ${good}`);
    assert.equal(r.status, 500);
    assert.ok(!r.text.includes(good));
  });

  await t.test('keys unreachable → 503 with Retry-After, for Express and node:http', async () => {
    const port = await deadPort(t);
    const down = { audience, jwksUrl: `http://127.0.0.1:${port}/api/v0/token/jwks` };
    const app2 = express();
    const mw = requireAuth({ ...down, retryAfterSeconds: 7 });
    t.after(() => mw.close());
    app2.get('/', mw, (req, res) => res.end('unreachable'));
    app2.use(authErrorHandler());
    const s1 = http.createServer(app2);
    const s2 = http.createServer(withAuth(down, (req, res) => res.end('unreachable')));
    servers.push(s1, s2);
    for (const [url, retry] of [[await listen(s1), '7'], [await listen(s2), '10']]) {
      const r = await get(url, `Bearer ${good}`);
      assert.equal(r.status, 503, r.text);
      assert.equal(r.headers.get('retry-after'), retry);
      assert.equal(r.body.error_description, 'COTTER_EJWKS_UNAVAILABLE');
      // Requests without a usable token are still answered from the header alone.
      assert.equal((await get(url)).status, 401);
      assert.equal((await get(url, 'Bearer a b')).status, 400);
    }
  });

  await t.test('the JWKS endpoint answering HTTP 500 → 503', async () => {
    const route = 'GET /api/v0/token/jwks';
    await emu.dev('/faults', { faults: [{ route, status: 500, count: 50 }] });
    const mw = requireAuth(opts);
    t.after(() => mw.close());
    const s = http.createServer((req, res) => mw(req, res, (err) => (err ? authErrorHandler()(err, req, res) : res.end('ok'))));
    servers.push(s);
    const url = await listen(s);
    const r = await get(url, `Bearer ${good}`);
    assert.equal(r.status, 503, r.text);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    await emu.dev('/faults', undefined, 'DELETE');
  });

  await t.test('the package entry points export the middleware (CommonJS and ESM)', async () => {
    const cjs = require('../../node/lib');
    assert.equal(cjs.requireAuth, requireAuth);
    assert.equal(cjs.withAuth, withAuth);
    const esm = await import('../../node/lib/index.mjs');
    assert.equal(esm.requireAuth, requireAuth);
    assert.equal(esm.withAuth, withAuth);
  });

  await t.test('options are checked when the middleware is created', () => {
    assert.throws(() => requireAuth({ ...opts, retryAfterSeconds: -1 }), TypeError);
    assert.throws(() => requireAuth({ verifier: {} }), TypeError);
    assert.throws(() => requireAuth(null), TypeError);
    assert.throws(() => requireAuth({ ...opts, property: '__proto__' }), TypeError);
    assert.throws(() => requireAuth({ audience }), (e) => e.code === 'COTTER_EINVAL'); // no key source
    assert.throws(() => withAuth(opts, 'not a function'), TypeError);
    assert.throws(() => requireAuth({ ...opts, requiredScopes: [1] }), TypeError);
    assert.throws(() => requireAuth({ ...opts, requiredScopes: ['a"b'] }), TypeError); // could not be quoted in scope=
    assert.throws(() => requireAuth({ ...opts, tokenTypes: [''] }), TypeError);
    assert.throws(() => requireAuth({ ...opts, claimCheck: 'sub' }), TypeError);
    assert.throws(() => requireAuth({ ...opts, authRequired: 'no' }), TypeError);
    assert.throws(() => requireAuth({ ...opts, realm: 7 }), TypeError);
    const ok = requireAuth({ ...opts, requiredScopes: 'read  write', tokenTypes: ['*'], authRequired: false });
    ok.close();
  });

  await t.test('a throwing claimCheck is a server error through next(err), not a 401', async () => {
    const mw = requireAuth({ verifier: shared, claimCheck: () => { throw new Error('check bug'); } });
    const app4 = express();
    app4.get('/', mw, (req, res) => res.end('unreachable'));
    app4.use(authErrorHandler());
    app4.use((err, req, res, next) => { res.status(500).json({ handled: err.message }); }); // eslint-disable-line no-unused-vars
    const s = http.createServer(app4);
    servers.push(s);
    const r = await get(`${await listen(s)}/`, `Bearer ${good}`);
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { handled: 'check bug' });
  });

  await t.test('Express alone (no error handler of ours) answers with the error\'s status and challenge', async () => {
    const app5 = express();
    app5.set('env', 'test'); // Express's final handler: no error log on stderr
    app5.get('/', requireAuth({ verifier: shared, requiredScopes: ['write'] }), (req, res) => res.end('unreachable'));
    const s = http.createServer(app5);
    servers.push(s);
    const url = await listen(s);
    const r = await get(`${url}/`, `Bearer ${good}`);
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="api", error="insufficient_scope", error_description="insufficient scope", scope="write"');
    assert.equal((await get(`${url}/`)).headers.get('www-authenticate'), 'Bearer realm="api"');
  });
});

// The typed examples (node/examples/*.ts, type-checked by scripts/test-node.sh) also have to run: transpiled with
// the TypeScript compiler into build/node-extras-examples (inside the package, so `require('cotter-native')` resolves
// to this package by its name), then run against the emulator.
test('node/examples run against the emulator', async (t) => {
  const fs = require('node:fs');
  const path = require('node:path');
  const { spawn } = require('node:child_process');
  const ts = require('typescript');
  const root = path.resolve(__dirname, '..', '..');
  const out = path.join(root, 'build', 'node-extras-examples');
  fs.mkdirSync(out, { recursive: true });
  for (const name of ['express_server', 'refresh_session']) {
    const src = fs.readFileSync(path.join(root, 'node', 'examples', `${name}.ts`), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
    fs.writeFileSync(path.join(out, `${name}.js`), js.outputText);
  }
  const emu = await startEmulator();
  t.after(() => emu.stop());
  const env = { ...process.env, COTTER_API_KEY_ID: emu.info.api_key_id, COTTER_API_SECRET_KEY: emu.info.api_secret_key, COTTER_BASE_URL: emu.info.base_url };

  function run(args, extraEnv, onLine) {
    const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { stdout += d; if (onLine) onLine(stdout); });
    child.stderr.on('data', (d) => { stderr += d; });
    const done = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
    return { child, done };
  }

  await t.test('express_server.ts: /me needs a valid token', async () => {
    let ready;
    const port = new Promise((r) => { ready = r; });
    const { child, done } = run([path.join(out, 'express_server.js')], { PORT: '0' }, (text) => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) ready(m[1]);
    });
    const url = await Promise.race([port, done.then((r) => { throw new Error(`exited: ${r.stderr}`); })]);
    try {
      const token = (await emu.login('example@example.com')).access_token;
      const ok = await get(`${url}/me`, `Bearer ${token}`);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.identifier, 'example@example.com');
      assert.equal((await get(`${url}/me`)).status, 401);
      const id = (await emu.login('example@example.com')).id_token;
      const refused = await get(`${url}/me`, `Bearer ${id}`);
      assert.equal(refused.status, 401, refused.text); // an ID token is not an access token
      assert.deepEqual(refused.body, { error: 'invalid_token', error_description: 'token type not accepted' });
      assert.deepEqual((await get(`${url}/scoped`, `Bearer ${token}`)).body, { scope: 'access' });
      assert.equal((await get(`${url}/health`)).status, 200);
      const legacy = await get(`${url}/legacy`, `Bearer ${token}`);
      assert.equal(legacy.status, 200, legacy.text);
      assert.deepEqual({ ...legacy.body, user: undefined }, { valid: true, user: undefined, identifier: 'example@example.com', method: 'OTP' });
      assert.equal((await get(`${url}/legacy`, `Bearer ${token}x`)).status, 403);
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  });

  await t.test('refresh_session.ts: refreshes through a token file', async () => {
    const file = path.join(out, `tokens-${process.pid}.json`);
    const oauth = await emu.login('session-example@example.com');
    fs.writeFileSync(file, JSON.stringify(oauth), { mode: 0o600 });
    t.after(() => fs.rmSync(file, { force: true }));
    const r = await run([path.join(out, 'refresh_session.js'), file]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /callers agree: true/);
    assert.match(r.stdout, /refreshed explicitly/);
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.notEqual(saved.refresh_token, oauth.refresh_token); // rotated and saved
    assert.ok(!(r.stdout + r.stderr).includes(oauth.refresh_token.split(':')[1]));
    // The old refresh token is gone: a session on it must log in again (exit 2, the example's EREAUTH branch).
    fs.writeFileSync(file, JSON.stringify(oauth), { mode: 0o600 });
    const again = await run([path.join(out, 'refresh_session.js'), file]).done;
    assert.equal(again.code, 2, again.stdout + again.stderr);
    assert.match(again.stderr, /log in again/);
  });
});
