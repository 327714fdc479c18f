'use strict';
// Verifier: every JWT error class (fixture matrix, static key set, pinned clock), sync and async alike; the
// emulator's remote key set (custom claims, rotation, unknown kid, outage); bad arguments; close().
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Verifier, CotterError, Client, codes } = require('cotter-native');
const { startEmulator, ROOT } = require('./helpers/emulator');

const fixtures = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/fixtures/jwt/cases.json'), 'utf8'));
const fixtureJwks = fs.readFileSync(path.join(ROOT, 'tests/fixtures/jwt/jwks.json'), 'utf8');

let emu;
before(async () => { emu = await startEmulator(); });
after(async () => { await emu.stop(); });

function fixtureVerifier() {
  return new Verifier({ audience: fixtures.audience, issuer: fixtures.issuer, jwks: fixtureJwks,
    leeway: fixtures.leeway_seconds, now: fixtures.now });
}

function expectCode(fn, code) {
  try { fn(); } catch (e) {
    assert.ok(e instanceof CotterError, `not a CotterError: ${e}`);
    assert.equal(e.code, code);
    return e;
  }
  assert.fail(`expected ${code}, got success`);
}

test('fixture matrix: every case gives its code, sync and async', async () => {
  const v = fixtureVerifier();
  assert.ok(fixtures.cases.length >= 30);
  for (const c of fixtures.cases) {
    if (c.expect === 'COTTER_OK') {
      const claims = v.verifySync(c.token);
      assert.ok([].concat(claims.aud).includes(fixtures.audience), c.name);
      assert.deepEqual(await v.verify(c.token), claims, c.name);
      assert.equal(v.checkSync(c.token), true);
      continue;
    }
    const e = expectCode(() => v.verifySync(c.token), c.expect);
    assert.equal(e.status, codes[c.expect], c.name);
    assert.equal(e.httpStatus, 0);
    assert.ok(!e.message.includes(c.token), 'the message never echoes the token');
    await assert.rejects(v.verify(c.token), (err) => err instanceof CotterError && err.code === c.expect, c.name);
  }
  v.close();
});

test('the pinned clock moves with setNow (expiry is judged against it)', () => {
  const v = fixtureVerifier();
  const ok = fixtures.cases.find((c) => c.expect === 'COTTER_OK').token;
  const { exp } = v.verifySync(ok);
  v.setNow(exp + fixtures.leeway_seconds + 1);
  expectCode(() => v.verifySync(ok), 'COTTER_EJWT_EXPIRED');
  v.setNow(fixtures.now);
  assert.equal(v.verifySync(ok).exp, exp);
  v.close();
  // The key set may also be given as an object.
  const o = new Verifier({ audience: fixtures.audience, jwks: JSON.parse(fixtureJwks), now: fixtures.now });
  assert.equal(o.verifySync(ok).exp, exp);
  o.close();
});

test('emulator tokens: claims are every payload claim (custom ones too), Buffer input works', async () => {
  const { api_key_id: aud, base_url: baseUrl, api_secret_key: secret } = emu.info;
  const v = new Verifier({ audience: aud, baseUrl });
  const tok = await emu.login('claims@example.com');
  const claims = await v.verify(tok.access_token);
  assert.equal(claims.identifier, 'claims@example.com');
  assert.equal(claims.type, 'client_access_token');
  assert.deepEqual(v.verifySync(Buffer.from(tok.access_token)), claims);
  const id = v.verifySync(tok.id_token);
  assert.equal(id.type, 'client_id_token');
  assert.equal(typeof id.auth_time, 'string');

  const c = new Client({ apiKeyId: aud, apiSecretKey: secret, baseUrl });
  const custom = await c.customClaims(tok.access_token, { role: 'admin', tier: 3, flags: { beta: true } });
  const cc = v.verifySync(custom.token);
  assert.equal(cc.role, 'admin');
  assert.equal(cc.tier, 3);
  assert.deepEqual(cc.flags, { beta: true });
  c.close();
  v.close();
});

test('expired, wrong audience, wrong issuer, forged signature, not yet valid', async () => {
  const { api_key_id: aud, base_url: baseUrl } = emu.info;
  const v = new Verifier({ audience: aud, baseUrl, leeway: 0 });
  const mint = async (body) => (await emu.dev('/access_token', { identifier: 'edge@example.com', ...body })).access_token;
  await assert.rejects(v.verify(await mint({ ttl: -60 })), { code: 'COTTER_EJWT_EXPIRED' });
  await assert.rejects(v.verify(await mint({ claims: { aud: 'someone-else' } })), { code: 'COTTER_EJWT_AUDIENCE' });
  await assert.rejects(v.verify(await mint({ claims: { iss: 'https://www.cotter.app.evil' } })), { code: 'COTTER_EJWT_ISSUER' });
  await assert.rejects(v.verify(await mint({ claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } })), { code: 'COTTER_EJWT_NOT_YET_VALID' });
  await assert.rejects(v.verify(await mint({ claims: { exp: null } })), { code: 'COTTER_EJWT_MISSING_CLAIM' });
  const good = await mint({});
  const [h, p, s] = good.split('.');
  const forged = [h, Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url')), sub: 'admin' })).toString('base64url'), s].join('.');
  await assert.rejects(v.verify(forged), { code: 'COTTER_EJWT_SIGNATURE' });
  const flipped = s[0] === 'A' ? 'B' + s.slice(1) : 'A' + s.slice(1);
  expectCode(() => v.verifySync(`${h}.${p}.${flipped}`), 'COTTER_EJWT_SIGNATURE');
  v.close();
});

test('key rotation: a token signed by a new key verifies after one refetch; unknown kid is KEY_NOT_FOUND', async () => {
  const { api_key_id: aud, base_url: baseUrl } = emu.info;
  const v = new Verifier({ audience: aud, baseUrl, jwksCooldownMs: 0 });
  await v.verify((await emu.login('rot@example.com')).access_token);  // keys cached
  await emu.dev('/keys/rotate', {});
  const fresh = (await emu.login('rot@example.com')).access_token;
  assert.equal((await v.verify(fresh)).identifier, 'rot@example.com');
  const [, p, s] = fresh.split('.');
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'nobody-has-this-kid', typ: 'JWT' })).toString('base64url');
  const unknown = `${header}.${p}.${s}`;
  await assert.rejects(v.verify(unknown), { code: 'COTTER_EJWT_KEY_NOT_FOUND' });
  v.close();
});

test('key set outage: COTTER_EJWKS_UNAVAILABLE without cached keys, last-good keys survive it', async () => {
  const { api_key_id: aud, base_url: baseUrl } = emu.info;
  const tok = (await emu.login('outage@example.com')).access_token;
  await emu.dev('/faults', { faults: [{ route: 'GET /api/v0/token/jwks', status: 503, count: 10 }] });
  const cold = new Verifier({ audience: aud, baseUrl, jwksTimeoutMs: 2000, jwksCooldownMs: 0 });
  await assert.rejects(cold.verify(tok), (e) => e instanceof CotterError && e.code === 'COTTER_EJWKS_UNAVAILABLE');
  await emu.dev('/faults', undefined, 'DELETE');
  await cold.refresh();
  await emu.dev('/faults', { faults: [{ route: 'GET /api/v0/token/jwks', reset: true, count: 10 }] });
  await assert.rejects(cold.refresh(), { code: 'COTTER_EJWKS_UNAVAILABLE' });
  assert.equal((await cold.verify(tok)).identifier, 'outage@example.com');
  await emu.dev('/faults', undefined, 'DELETE');
  cold.close();
});

test('bad arguments are COTTER_EINVAL CotterErrors, never crashes', async () => {
  const { api_key_id: aud, base_url: baseUrl } = emu.info;
  for (const bad of [undefined, null, 42, {}, ['a'], () => 1]) {
    assert.throws(() => new Verifier(bad === undefined ? { audience: aud } : { audience: aud, baseUrl: bad === null ? undefined : bad }),
      (e) => e instanceof CotterError && e.code === 'COTTER_EINVAL');
  }
  assert.throws(() => new Verifier({ baseUrl }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new Verifier({ audience: aud, baseUrl, jwks: '{"keys":[]}' }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new Verifier({ audience: aud, jwksUrl: 'ftp://example.com/jwks' }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new Verifier({ audience: aud, baseUrl, leeway: 301 }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new Verifier({ audience: aud, baseUrl, leeway: 1.5 }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new Verifier({ audience: aud, jwks: '{"keys":[{"kty":"EC"}]}' }), { code: 'COTTER_EJWKS_INVALID' });
  const v = new Verifier({ audience: aud, baseUrl });
  for (const bad of [undefined, null, 1, {}, [], new Uint16Array(4)]) {
    assert.throws(() => v.verifySync(bad), { code: 'COTTER_EINVAL' });
  }
  assert.throws(() => v.verifySync('a'.repeat(1 << 20)), { code: 'COTTER_EJWT_MALFORMED' });
  assert.throws(() => v.verifySync('.'.repeat(1 << 20)), { code: 'COTTER_EJWT_MALFORMED' });
  assert.throws(() => v.verifySync('\u0000.\u0000.\u0000'), { code: 'COTTER_EJWT_MALFORMED' });
  assert.throws(() => v.setNow(5), { code: 'COTTER_EINVAL' });
  v.close();
  assert.throws(() => v.verifySync('a.b.c'), { code: 'COTTER_EINVAL' });
  await assert.rejects(v.verify('a.b.c'), { code: 'COTTER_EINVAL' });
  v.close();  // twice is harmless
});

test('many async verifications in flight, then close() while they run', async () => {
  const { api_key_id: aud, base_url: baseUrl } = emu.info;
  const v = new Verifier({ audience: aud, baseUrl });
  const tok = (await emu.login('many@example.com')).access_token;
  const all = Array.from({ length: 500 }, () => v.verify(tok));
  v.close();  // frees after the last one settles
  const res = await Promise.all(all);
  assert.equal(res.length, 500);
  for (const c of res) assert.equal(c.identifier, 'many@example.com');
});

// verify() reuses its per-call jobs (their token and claims buffers): mixed outcomes and token lengths, many in
// flight and in a shuffled order, each settle exactly as verifySync judges that token (nothing of an earlier call
// carries over: neither its claims, nor its error, nor its token).
test('verify() with reused jobs: shuffled mixed tokens in flight each settle as verifySync says', async () => {
  const v = fixtureVerifier();
  const expected = fixtures.cases.map((c) => {
    try { return { ok: v.verifySync(c.token) }; } catch (e) { return { code: e.code }; }
  });
  let seed = 12345;  // a fixed shuffle: the same order on every run
  const order = [];
  for (let round = 0; round < 8; round++) for (let i = 0; i < fixtures.cases.length; i++) order.push(i);
  for (let i = order.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  let next = 0;
  const lane = async () => {
    while (next < order.length) {
      const i = order[next++];
      const want = expected[i];
      const got = await v.verify(fixtures.cases[i].token).then((ok) => ({ ok }), (e) => ({ code: e.code }));
      assert.deepEqual(got, want, fixtures.cases[i].name);
    }
  };
  await Promise.all(Array.from({ length: 64 }, lane));
  assert.ok(expected.some((e) => e.ok) && expected.some((e) => e.code));
  v.close();
});

test('token cache on: hits give the same claims; a tampered twin still fails; expiry still applies', () => {
  const v = new Verifier({ audience: fixtures.audience, issuer: fixtures.issuer, jwks: fixtureJwks, now: fixtures.now, tokenCache: 64 });
  const ok = fixtures.cases.find((c) => c.expect === 'COTTER_OK').token;
  const first = v.verifySync(ok);
  for (let i = 0; i < 100; i++) assert.deepEqual(v.verifySync(ok), first);
  const [h, p, s] = ok.split('.');
  const twin = `${h}.${p}.${s.slice(0, -2)}${s.slice(-2) === 'AA' ? 'AB' : 'AA'}`;
  expectCode(() => v.verifySync(twin), 'COTTER_EJWT_SIGNATURE');
  v.setNow(first.exp + 3600);
  expectCode(() => v.verifySync(ok), 'COTTER_EJWT_EXPIRED');
  v.close();
});

test('a NUL inside a string option is refused (C would see only the part before it)', async () => {
  const c = fixtures.cases.find((x) => x.expect === 'COTTER_OK');
  assert.throws(() => new Verifier({ audience: `${fixtures.audience}\0evil`, jwks: fixtureJwks, now: fixtures.now }), { code: 'COTTER_EINVAL' });
  assert.throws(() => new Verifier({ audience: fixtures.audience, issuer: `${fixtures.issuer}\0x`, jwks: fixtureJwks }), { code: 'COTTER_EINVAL' });
  const v = fixtureVerifier();
  assert.throws(() => v.verifySync(`${c.token}\0`), { code: 'COTTER_EJWT_MALFORMED' });
  v.close();
  const client = new Client({ apiKeyId: emu.info.api_key_id, baseUrl: emu.info.base_url });
  await assert.rejects(client.getUserById('abc\0def'), { code: 'COTTER_EINVAL' });
  await assert.rejects(client.verifyRemote('a.b.c\0'), { code: 'COTTER_EINVAL' });
  assert.throws(() => new Client({ apiKeyId: `${emu.info.api_key_id}\0x` }), { code: 'COTTER_EINVAL' });
  client.close();
});

// verify() reads a token string in one pass when it fits the addon's stack buffer (1,536 bytes) and the claims of
// an ASCII payload as Latin-1: tokens of every length around that bound, payloads with non-ASCII text, and a token
// with a non-Latin-1 character (which a Latin-1 read would truncate into another byte) all give what verifySync does.
test('verify() agrees with verifySync on long tokens, non-ASCII claims and non-Latin-1 token text', async () => {
  const crypto = require('node:crypto');
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = 'k1';
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' }] });
  const aud = 'aud-utf8';
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const sign = (payload) => {
    const input = `${b64({ alg: 'ES256', kid, typ: 'JWT' })}.${b64({ aud, iss: 'https://www.cotter.app', iat: now, exp: now + 3600, ...payload })}`;
    const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  };
  const v = new Verifier({ audience: aud, jwks });

  const lengths = new Set();
  for (let pad = 900; pad < 1000; pad++) {
    const token = sign({ sub: 'u', pad: 'x'.repeat(pad) });
    lengths.add(token.length);
    const claims = await v.verify(token);
    assert.equal(claims.pad.length, pad);
    assert.deepEqual(claims, v.verifySync(token));
  }
  // Each character of `pad` adds 1 or 2 to the token's length: every length around the bound is tried but a few.
  assert.ok(Math.min(...lengths) < 1500 && Math.max(...lengths) > 1560, [...lengths].join(','));
  const huge = sign({ sub: 'u', pad: 'y'.repeat(10000) });
  assert.equal((await v.verify(huge)).pad.length, 10000);

  const text = 'Putri Ö — 東京 😀';
  const utf8 = sign({ sub: 'u', name: text });
  const claims = await v.verify(utf8);
  assert.equal(claims.name, text);
  assert.deepEqual(claims, v.verifySync(utf8));
  // The verify thread tests the claims text for ASCII eight bytes at a time: one non-ASCII byte at every offset
  // within a word (and in the tail) must still be read as UTF-8.
  for (let k = 0; k < 24; k++) {
    const one = sign({ sub: 'u', a: `${'x'.repeat(k)}é` });
    assert.equal((await v.verify(one)).a, `${'x'.repeat(k)}é`);
  }

  // U+012E truncated to a byte is '.', which would make this string the valid token itself.
  const ascii = sign({ sub: 'u' });
  const forged = ascii.replace('.', '\u012e');
  const code = expectCode(() => v.verifySync(forged), 'COTTER_EJWT_MALFORMED').code;
  await assert.rejects(v.verify(forged), { code });
  v.close();
});

// verify() settles a verify thread's batch (up to 16 jobs) with one JSON.parse of one array text: a batch mixing
// ASCII and non-ASCII claims (the whole array is then read as UTF-8), failures between successes (each success
// still gets its own element), custom nested claims and huge payloads (a batch text past what a spare job keeps)
// must each give exactly what verifySync gives, as a plain object of its own.
test('verify() in flight: batches mixing failures, non-ASCII, nested and huge claims each settle as verifySync says', async () => {
  const crypto = require('node:crypto');
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = 'k1';
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' }] });
  const aud = 'aud-batch';
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const sign = (payload) => {
    const input = `${b64({ alg: 'ES256', kid, typ: 'JWT' })}.${b64({ aud, iss: 'https://www.cotter.app', iat: now, exp: now + 3600, ...payload })}`;
    const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  };
  const tokens = [];
  for (let i = 0; i < 40; i++) {
    tokens.push(sign({ sub: `ascii-${i}`, n: i }));
    tokens.push(sign({ sub: `utf8-${i}`, name: `Putri Ö — 東京 😀 ${i}`, nested: { roles: ['a', 'b'], depth: { i } } }));
    tokens.push(sign({ sub: `expired-${i}`, exp: now - 3600 }));  // COTTER_EJWT_EXPIRED
    tokens.push(`${sign({ sub: `forged-${i}` }).slice(0, -4)}AAAA`);  // COTTER_EJWT_SIGNATURE
    if (i % 10 === 0) tokens.push(sign({ sub: `huge-${i}`, pad: 'z'.repeat(300000) }));
  }
  const v = new Verifier({ audience: aud, jwks });
  const expected = tokens.map((t) => {
    try { return { ok: v.verifySync(t) }; } catch (e) { return { code: e.code }; }
  });
  for (let round = 0; round < 3; round++) {  // rounds: later batches run on reused jobs and buffers
    const got = await Promise.all(tokens.map((t) => v.verify(t).then((ok) => ({ ok }), (e) => {
      assert.ok(e instanceof CotterError, `not a CotterError: ${e}`);
      return { code: e.code };
    })));
    assert.deepEqual(got, expected);
    for (const g of got) {
      if (!g.ok) continue;
      assert.equal(Object.getPrototypeOf(g.ok), Object.prototype);
      assert.deepEqual(JSON.parse(JSON.stringify(g.ok)), g.ok);
      assert.deepEqual(structuredClone(g.ok), g.ok);
      assert.deepEqual({ ...g.ok }, g.ok);
      assert.deepEqual(Object.keys(g.ok), Object.keys(expected[got.indexOf(g)].ok));
    }
    // Each result is an object of its own: changing one changes no other.
    const a = got.find((g) => g.ok && g.ok.nested);
    const b = got.findLast((g) => g.ok && g.ok.nested);
    a.ok.nested.roles.push('x');
    assert.deepEqual(b.ok.nested.roles, ['a', 'b']);
  }
  assert.ok(expected.filter((e) => e.code === 'COTTER_EJWT_EXPIRED').length === 40);
  assert.ok(expected.filter((e) => e.code === 'COTTER_EJWT_SIGNATURE').length === 40);
  v.close();
});
