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
const execFile = util.promisify(require('node:child_process').execFile);
const { startEmulator, forge, deadPort } = require('./helpers/emulator');
const { Verifier, CotterError } = require('../../node/lib');
const compat = require('../../node/lib/compat');

const { CotterValidateJWT, CotterJwtToken, CotterAccessToken, CotterIDToken } = compat;

// Runs CotterValidateJWT(token) for each token in a fresh Node process whose environment is `vars` (and no other
// COTTER_* variable): the library reads the environment there, never in this test process.
async function inChild(vars, tokens) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('COTTER_') || k.startsWith('COTTER_NODE_')));
  const script = `
    const { CotterValidateJWT, CotterAccessToken } = require(${JSON.stringify(require.resolve('../../node/lib/compat'))});
    (async () => {
      const tokens = JSON.parse(process.argv[1]);
      const results = [];
      for (const t of tokens) results.push(await CotterValidateJWT(t).then(String, (e) => \`\${e.code}: \${e.message}\`));
      let id;
      if (results[0] === 'true') id = new CotterAccessToken(tokens[0]).getID();
      process.stdout.write(JSON.stringify({ results, id }));
    })();`;
  const { stdout } = await execFile(process.execPath, ['-e', script, JSON.stringify(tokens)], { env: { ...env, ...vars } });
  const out = JSON.parse(stdout);
  if (out.id === undefined) delete out.id;
  return out;
}

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

  await t.test('CotterValidateJWT with a Verifier', async () => {
    const v = new Verifier(config);
    t.after(() => v.close());
    assert.equal(await CotterValidateJWT(minted.access_token, v), true);
    assert.equal(await CotterValidateJWT(minted.access_token, { verifier: v }), true);
    assert.equal(await CotterValidateJWT(expired, v), false);
  });

  await t.test('from the environment (COTTER_API_KEY_ID, COTTER_BASE_URL), read by the library in a child process', async () => {
    const env = { COTTER_API_KEY_ID: audience, COTTER_BASE_URL: `${emu.info.base_url}/` };
    assert.deepEqual(await inChild(env, [minted.access_token, otherAud]),
      { results: ['true', 'false'], id: minted.access_claims.sub });
    // No audience anywhere: COTTER_EINVAL with the library's message, before any network use.
    const none = await inChild({ COTTER_BASE_URL: emu.info.base_url }, [minted.access_token]);
    assert.deepEqual(none.results, ['COTTER_EINVAL: audience (your Cotter API key id) is required: pass it or set COTTER_API_KEY_ID']);
  });

  await t.test('CotterValidateJWT: keys unreachable → false; no audience configured → rejects with COTTER_EINVAL', async () => {
    const down = { audience, jwksUrl: `http://127.0.0.1:${await deadPort(t)}/jwks` };
    assert.equal(await CotterValidateJWT(minted.access_token, down), false);
    await assert.rejects(CotterValidateJWT(minted.access_token, { jwksUrl: emu.info.jwks_url }), (e) => e instanceof CotterError && e.code === 'COTTER_EINVAL');
    await assert.rejects(CotterValidateJWT(minted.access_token, 'config'), TypeError);
    // fromEnvironment is a boolean; any other value is refused.
    assert.throws(() => new Verifier({ jwksUrl: emu.info.jwks_url, fromEnvironment: 'yes' }), (e) => e.code === 'COTTER_EINVAL');
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

  await t.test('COTTER_CA_FILE: the key set of a TLS emulator, trusted through the variable only', async () => {
    const tls = await startEmulator(['--tls']);
    t.after(() => tls.stop());
    const token = (await tls.dev('/access_token', { identifier: 'compat-tls@example.com' })).access_token;
    const env = { COTTER_API_KEY_ID: tls.info.api_key_id, COTTER_BASE_URL: tls.info.base_url };
    assert.deepEqual((await inChild({ ...env, COTTER_CA_FILE: tls.info.ca_file }, [token])).results, ['true']);
    assert.deepEqual((await inChild(env, [token])).results, ['false']); // the system store does not know its CA
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
