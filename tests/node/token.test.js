'use strict';
// Token.from parses with the library (cotter_token_from_json), not in JS: the rules of a token file, the
// library's messages with a stable code for bad input, and its reading of the access token's `exp`.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { Token, CotterError } = require('cotter-native');

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (payload) => `${b64({ alg: 'ES256' })}.${b64(payload)}.sig`;

test('the access token exp is the library reading: a fractional exp schedules at the earlier second', () => {
  const t = Token.from({ access_token: jwt({ exp: 2000000000.9 }), refresh_token: 'r', expires_in: 3600 });
  assert.equal(t.expiresAt, 2000000000);
  assert.equal(t.expiresIn, 3600);
  assert.equal(t.refreshToken, 'r');
  assert.equal(Token.from({ access_token: 'opaque' }).expiresAt, 0);
  // Unknown members are tolerated; the six keys come back.
  const text = JSON.stringify({ access_token: jwt({ exp: 5 }), token_type: 'Bearer', extra: 1 });
  assert.deepEqual(Token.from(text).toOAuthToken(), { access_token: jwt({ exp: 5 }), expires_in: 0, token_type: 'Bearer' });
});

test('bad token JSON is a CotterError with the library message, never a SyntaxError', () => {
  const cases = [
    ['not json', 'malformed JSON in the token JSON'],
    ['{"access_token": 5}', '"access_token" is not a string'],
    ['{}', 'no "access_token" string in token JSON'],
    [{ access_token: 'a', expires_in: 'x' }, '"expires_in" is not an integer'],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => Token.from(value), (e) => {
      assert.ok(e instanceof CotterError, `${e}`);
      assert.equal(e.code, 'COTTER_EPROTOCOL');
      assert.equal(e.message, message);
      return true;
    });
  }
  assert.throws(() => Token.from(7), { code: 'COTTER_EPROTOCOL' });
});
