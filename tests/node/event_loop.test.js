'use strict';
// The event loop never blocks: a timer keeps firing while 200 grants are in flight (each held 50 ms by the
// emulator), and while 2,000 async verifications run on the addon's verify threads. No timing is asserted: a blocked
// loop would let the timer fire zero times before the calls finish.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Client, Verifier } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');

let emu;
before(async () => { emu = await startEmulator(); });
after(async () => { await emu.stop(); });

/** Runs `start()` (which returns the promises it started) and counts timer ticks until they all settle. */
async function ticksWhile(start) {
  let ticks = 0;
  let pending = true;
  const timer = setInterval(() => { if (pending) ticks++; }, 1);
  try {
    const results = await Promise.allSettled(start());
    pending = false;
    return { ticks, results };
  } finally {
    clearInterval(timer);
  }
}

test('a timer keeps firing while 200 grants are in flight', async () => {
  const c = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url });
  const { identity_token: it } = await emu.dev('/identity_token', { identifier: 'loop@example.com' });
  await emu.dev('/faults', { route: 'POST /api/v0/token', latency_ms: 50, count: 200 });
  const { ticks, results } = await ticksWhile(() => Array.from({ length: 200 }, () => c.exchangeIdentityToken(it)));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 200, JSON.stringify(results.find((r) => r.status === 'rejected')));
  assert.ok(ticks >= 10, `the timer fired ${ticks} times while the grants ran`);
  c.close();
});

test('a timer keeps firing while 2,000 verifications run off the loop', async () => {
  const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url });
  const tok = (await emu.login('loopv@example.com')).access_token;
  await v.verify(tok);  // keys fetched
  const { ticks, results } = await ticksWhile(() => Array.from({ length: 2000 }, () => v.verify(tok)));
  assert.ok(results.every((r) => r.status === 'fulfilled' && r.value.identifier === 'loopv@example.com'));
  assert.ok(ticks >= 1, `the timer fired ${ticks} times`);
  v.close();
});
