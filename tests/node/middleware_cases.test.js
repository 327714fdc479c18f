'use strict';
/**
 * @file tests/node/middleware_cases.test.js
 * @brief The shared middleware table (tests/fixtures/middleware/cases.json, also run by the Go and Rust tests):
 * requireAuth() under Express 5 (errors through next(err) into authErrorHandler(), and into Express's own final
 * handler) and withAuth() under node:http, with tokens minted by the emulator.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const express = require('express');
const { startEmulator } = require('./helpers/emulator');
const { Verifier } = require('../../node/lib');
const {
  requireAuth, withAuth, authErrorHandler, UnauthorizedError, InvalidRequestError, InvalidTokenError, InsufficientScopeError,
} = require('../../node/lib/middleware');

const { cases } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'middleware', 'cases.json'), 'utf8'));
const CLASSES = { invalid_request: InvalidRequestError, invalid_token: InvalidTokenError, insufficient_scope: InsufficientScopeError };

/** The fixture's options as requireAuth() options; claimCheck {claim, equals} becomes a predicate. */
function optionsOf(c, verifier) {
  const { claimCheck, ...rest } = c.options || {};
  const o = { verifier, ...rest };
  if (claimCheck) o.claimCheck = (claims) => claims[claimCheck.claim] === claimCheck.equals;
  return o;
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

/** GET with the given Authorization lines (several lines = several headers), raw, as the fixture says. */
function get(url, lines) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false });
    if (lines) req.setHeader('Authorization', lines.length === 1 ? lines[0] : lines);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, www: res.headers['www-authenticate'], text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the shared middleware table', async (t) => {
  const emu = await startEmulator();
  const verifier = new Verifier({ audience: emu.info.api_key_id, jwksUrl: emu.info.jwks_url });
  const servers = [];
  t.after(async () => {
    for (const s of servers) await new Promise((r) => { s.closeAllConnections(); s.close(r); });
    verifier.close();
    await emu.stop();
  });

  // One middleware per case, on routes /<index>: Express with authErrorHandler (recording the error it got),
  // Express with no error handler of ours, and node:http through withAuth().
  const seen = new Map();
  const app = express();
  const bare = express();
  bare.set('env', 'test'); // Express's final handler: no error log on stderr
  const listeners = [];
  cases.forEach((c, i) => {
    const ok = (req, res) => res.json({ auth: req.auth !== undefined });
    app.get(`/${i}`, requireAuth(optionsOf(c, verifier)), ok);
    bare.get(`/${i}`, requireAuth(optionsOf(c, verifier)), ok);
    listeners.push(withAuth(optionsOf(c, verifier), (req, res) => res.end(JSON.stringify({ auth: req.auth !== undefined }))));
  });
  app.use((err, req, res, next) => { seen.set(req.path, err); next(err); });
  app.use(authErrorHandler());
  const urls = {};
  for (const [name, handler] of [['express', app], ['express default handler', bare],
    ['node:http withAuth', (req, res) => listeners[Number(req.url.slice(1))](req, res)]]) {
    const s = http.createServer(handler);
    servers.push(s);
    urls[name] = await listen(s);
  }

  for (const [i, c] of cases.entries()) {
    await t.test(c.name, async () => {
      let token;
      if (c.token) {
        const minted = await emu.dev('/access_token', { identifier: 'mw@example.com', claims: c.token.claims || {}, ttl: c.token.ttl ?? 600 });
        token = c.token.kind === 'id' ? minted.id_token : minted.access_token;
      }
      const lines = c.authorization && c.authorization.map((l) => l.replace('{token}', token));
      for (const [name, url] of Object.entries(urls)) {
        const r = await get(`${url}/${i}`, lines);
        assert.equal(r.status, c.status, `${name}: ${r.text}`);
        if (c.status === 200) {
          assert.deepEqual(JSON.parse(r.text), { auth: c.auth }, name);
          assert.equal(r.www, undefined, name);
          continue;
        }
        assert.equal(r.www, c.www_authenticate, name);
        if (name === 'express default handler') continue; // Express's own page: status and headers only
        const body = JSON.parse(r.text);
        assert.equal(body.error, c.error ?? undefined, name);
        if (token) assert.ok(!r.text.includes(token) && !r.www.includes(token), `${name}: token echoed`);
      }
      if (c.status !== 200) {
        // The error that went through next(err): the class of its RFC code, with status, code and the challenge.
        const err = seen.get(`/${i}`);
        assert.ok(err instanceof (CLASSES[c.error] || UnauthorizedError), err && err.name);
        assert.ok(err instanceof UnauthorizedError);
        assert.equal(err.status, c.status);
        assert.equal(err.statusCode, c.status);
        assert.equal(err.code, c.error ?? undefined);
        assert.equal(err.wwwAuthenticate, c.www_authenticate);
        assert.deepEqual(err.headers, { 'WWW-Authenticate': c.www_authenticate });
        if (c.error === 'insufficient_scope') assert.deepEqual(err.scopes, c.options.requiredScopes);
      }
    });
  }
});
