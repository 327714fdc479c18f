'use strict';
// Argument mistakes show the library's own sentence (tests/fixtures/argument_errors.json, shared with the C, Python,
// Rust and Go tests): the addon passes values through and the core refuses them, so every language shows the same
// text and code. Out-of-range numbers get the core's range message, not a Node restatement (maxRetries is 0..10).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Verifier, Client, TokenSession } = require('cotter-native');
const { ROOT } = require('./helpers/emulator');

const messages = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/fixtures/argument_errors.json'), 'utf8'));
const jwks = '{"keys":[]}';
const jwksUrl = 'http://127.0.0.1:9/token/jwks'; // never contacted: a remote key set is fetched on first use
const client = (o = {}) => new Client({ apiKeyId: 'key', baseUrl: 'http://127.0.0.1:9', ...o });

const mistakes = {
  verifier_two_key_sources: () => new Verifier({ audience: 'key', jwks, jwksUrl }),
  verifier_no_key_source: () => new Verifier({ audience: 'key' }),
  verifier_no_audience: () => new Verifier({ jwksUrl }),
  verifier_leeway_301: () => new Verifier({ audience: 'key', jwksUrl, leeway: 301 }),
  verifier_jwks_timeout_0: () => new Verifier({ audience: 'key', jwksUrl, jwksTimeoutMs: 0 }),
  client_max_retries_11: () => client({ maxRetries: 11 }),
  client_timeout_0: () => client({ timeoutMs: 0 }),
  session_refresh_margin_86401: () => new TokenSession(client(), { marginSeconds: 86401 }),
};

test('every shared mistake is covered', () => {
  assert.deepEqual(Object.keys(mistakes).sort(), Object.keys(messages).filter((k) => !k.startsWith('$')).sort());
});

for (const [name, mistake] of Object.entries(mistakes)) {
  test(`${name}: the library's message reaches JS unchanged`, () => {
    assert.throws(mistake, (e) => {
      assert.equal(e.code, 'COTTER_EINVAL');
      assert.equal(e.message, messages[name]);
      return true;
    });
  });
}

test('left-out options take the library defaults; the bounds are accepted', () => {
  new Verifier({ audience: 'key', jwksUrl, leeway: 300, jwksTimeoutMs: 120000 }).close();
  new Verifier({ audience: 'key', jwksUrl }).close();
  client({ maxRetries: 10 }).close();
  new TokenSession(client(), { marginSeconds: 86400 }).close();
});

test('baseUrl goes through the library: its rule for the key set URL and for the base URL', () => {
  // The library's own message for a base URL a client would refuse (JS no longer appends /token/jwks itself).
  assert.throws(() => new Verifier({ audience: 'key', baseUrl: 'http://cotter.example/api' }),
    { code: 'COTTER_EINVAL', message: 'base_url must be https (or http to a loopback host)' });
  new Verifier({ audience: 'key', baseUrl: 'http://127.0.0.1:9/api/v0//' }).close();
  // baseUrl is this binding's shorthand for jwksUrl: giving both is a conflict.
  assert.throws(() => new Verifier({ audience: 'key', baseUrl: 'http://127.0.0.1:9', jwksUrl }),
    { code: 'COTTER_EINVAL', message: 'give exactly one key source: jwks, jwksUrl or baseUrl' });
});
