'use strict';
/**
 * @file tests/node/compat.test.js
 * @brief The drop-ins for Cotter's old helpers (spec §5.3) against the emulator: CotterValidateJWT resolves to a
 * boolean (never rejects for a bad token or a key outage), and the cotter-token-js getter classes expose the
 * verified claims only.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const { startEmulator, forge, deadPort } = require('./helpers/emulator');
const { Verifier, CotterError } = require('../../node/lib');
const compat = require('../../node/lib/compat');

const { CotterValidateJWT, CotterJwtToken, CotterAccessToken, CotterIDToken } = compat;

test('compat helpers', async (t) => {
  const emu = await startEmulator();
  t.after(() => emu.stop());
  const audience = emu.info.api_key_id;
  const config = { audience, jwksUrl: emu.info.jwks_url };
  const minted = await emu.dev('/access_token', {
    identifier: 'compat@example.com', ttl: 600, claims: { plan: 'pro' },
  });
  const expired = (await emu.dev('/access_token', { identifier: 'compat@example.com', ttl: -120 })).access_token;
  const otherAud = (await emu.dev('/access_token', { identifier: 'compat@example.com', claims: { aud: 'x' } })).access_token;

  await t.test('CotterValidateJWT returns a Promise of a boolean', async () => {
    const p = CotterValidateJWT(minted.access_token, config);
    assert.ok(p instanceof Promise);
    assert.equal(await p, true);
    assert.equal(await CotterValidateJWT(minted.id_token, config), true); // same key, iss and aud
    for (const bad of [expired, otherAud, forge(minted.access_token), 'not.a.jwt', '', 'x'.repeat(20000), undefined, null, 42, {}]) {
      assert.equal(await CotterValidateJWT(bad, config), false, String(bad).slice(0, 40));
    }
  });

  await t.test('CotterValidateJWT with a Verifier, and from the environment (COTTER_API_KEY_ID, COTTER_BASE_URL)', async () => {
    const v = new Verifier(config);
    t.after(() => v.close());
    assert.equal(await CotterValidateJWT(minted.access_token, v), true);
    assert.equal(await CotterValidateJWT(minted.access_token, { verifier: v }), true);
    assert.equal(await CotterValidateJWT(expired, v), false);
    const saved = { ...process.env };
    t.after(() => { for (const k of ['COTTER_API_KEY_ID', 'COTTER_BASE_URL']) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k]; } });
    process.env.COTTER_API_KEY_ID = audience;
    process.env.COTTER_BASE_URL = `${emu.info.base_url}/`;
    assert.equal(await CotterValidateJWT(minted.access_token), true);
    assert.equal(await CotterValidateJWT(otherAud), false);
    const token = new CotterAccessToken(minted.access_token);
    assert.equal(token.getID(), minted.access_claims.sub);
  });

  await t.test('CotterValidateJWT: keys unreachable → false; no audience configured → rejects with COTTER_EINVAL', async () => {
    const down = { audience, jwksUrl: `http://127.0.0.1:${await deadPort(t)}/jwks` };
    assert.equal(await CotterValidateJWT(minted.access_token, down), false);
    const saved = process.env.COTTER_API_KEY_ID;
    delete process.env.COTTER_API_KEY_ID;
    t.after(() => { if (saved !== undefined) process.env.COTTER_API_KEY_ID = saved; });
    await assert.rejects(CotterValidateJWT(minted.access_token), (e) => e instanceof CotterError && e.code === 'COTTER_EINVAL');
    await assert.rejects(CotterValidateJWT(minted.access_token, { jwksUrl: emu.info.jwks_url }), (e) => e instanceof CotterError && e.code === 'COTTER_EINVAL');
    await assert.rejects(CotterValidateJWT(minted.access_token, 'config'), TypeError);
  });

  await t.test('CotterAccessToken: the getters of cotter-token-js over verified claims', async () => {
    const c = minted.access_claims;
    for (const token of [new CotterAccessToken(minted.access_token, config), await CotterAccessToken.verify(minted.access_token, config)]) {
      assert.ok(token instanceof CotterAccessToken && token instanceof CotterJwtToken);
      assert.equal(token.token, minted.access_token);
      assert.equal(token.payload.plan, 'pro'); // custom claims too
      assert.equal(token.getExpiration(), c.exp);
      assert.equal(token.getIssuedAt(), c.iat);
      assert.deepEqual(token.getAudience(), c.aud);
      assert.equal(token.getAuthMethod(), c.authentication_method);
      assert.equal(token.getScope(), 'access');
      assert.equal(token.getID(), c.sub);
      assert.equal(token.getIdentifier(), 'compat@example.com');
      assert.equal(token.getClientUserID(), c.client_user_id);
      assert.ok(Object.isFrozen(token) && Object.isFrozen(token.payload));
    }
  });

  await t.test('CotterIDToken: the getters of cotter-token-js over verified claims', async () => {
    const c = minted.id_claims;
    const token = await CotterIDToken.verify(minted.id_token, config);
    assert.ok(token instanceof CotterIDToken);
    assert.equal(token.getAuthTime(), c.auth_time);
    assert.equal(token.getIdentifier(), 'compat@example.com');
    assert.equal(token.getID(), c.sub);
    assert.equal(token.getClientUserID(), c.client_user_id);
    assert.equal(token.getExpiration(), c.exp);
    assert.equal(new CotterIDToken(minted.id_token, config).getAuthTime(), c.auth_time);
  });

  await t.test('configurations are cached with a bound: 40 audiences evict the first, which then comes back', async () => {
    const audiences = Array.from({ length: 40 }, (_, i) => `aud-${i}`);
    const results = await Promise.all(audiences.map((a) => CotterValidateJWT(minted.access_token, { audience: a, jwksUrl: emu.info.jwks_url })));
    assert.deepEqual(results, audiences.map(() => false)); // wrong audience for every one, and no crash from evictions
    assert.equal(await CotterValidateJWT(minted.access_token, config), true);
  });

  await t.test('the token classes refuse unverified tokens with the stable code', async () => {
    assert.throws(() => new CotterAccessToken(expired, config), (e) => e instanceof CotterError && e.code === 'COTTER_EJWT_EXPIRED');
    assert.throws(() => new CotterIDToken(forge(minted.id_token), config), (e) => e instanceof CotterError && e.code === 'COTTER_EJWT_SIGNATURE');
    await assert.rejects(CotterAccessToken.verify(otherAud, config), (e) => e instanceof CotterError && e.code === 'COTTER_EJWT_AUDIENCE');
    await assert.rejects(CotterAccessToken.verify('garbage', config), (e) => e instanceof CotterError && e.code === 'COTTER_EJWT_MALFORMED');
    assert.throws(() => new CotterAccessToken(42, config), TypeError);
    // A caller cannot smuggle claims in through the config object.
    assert.throws(() => new CotterAccessToken(forge(minted.access_token), { ...config, payload: { sub: 'admin' } }), CotterError);
  });

  await t.test('the package entry points export the helpers (CommonJS and ESM)', async () => {
    const cjs = require('../../node/lib');
    const esm = await import('../../node/lib/index.mjs');
    for (const name of ['CotterValidateJWT', 'CotterJwtToken', 'CotterAccessToken', 'CotterIDToken']) {
      assert.equal(cjs[name], compat[name], name);
      assert.equal(esm[name], compat[name], name);
    }
  });

  await t.test('inspection and JSON never show the token', () => {
    const token = new CotterAccessToken(minted.access_token, config);
    const sig = minted.access_token.split('.')[2];
    const shown = util.inspect(token, { depth: 5 }) + JSON.stringify(token) + String(Object.keys(token));
    assert.ok(!shown.includes(sig));
    assert.ok(util.inspect(token).includes('compat@example.com'));
  });
});
