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

// A burst of completions is settled a few at a time (node/src/addon.cpp, JsThread::Drain): the loop turns between
// slices, so fs, timers and sockets answer during the burst. 4,000 cached verifications complete on the verify
// threads far faster than the JS thread settles them (it is still busy starting them), so hundreds are queued at
// once; settled whole in one callback (Node re-runs a TSFN signalled during its own callback), all 4,000 landed
// without the loop turning once. The count per turn is the assertion:
// at most two slices of 8 tasks, each a batch of up to 16 verifications, per pass (with room to spare).
test('a burst of completions is settled in slices, with the loop turning in between', async () => {
  const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url, tokenCache: 4096 });
  const tok = (await emu.login('slices@example.com')).access_token;
  await v.verify(tok);  // keys fetched, token cached
  let settled = 0;
  let last = 0;
  let most = 0;
  let turns = 0;
  let running = true;
  const turn = () => {
    most = Math.max(most, settled - last);
    last = settled;
    turns++;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  const all = Array.from({ length: 4000 }, () => v.verify(tok).then((c) => { settled++; return c; }));
  const claims = await Promise.all(all);
  running = false;
  most = Math.max(most, settled - last);  // the settlements since the last turn count too
  assert.ok(claims.every((c) => c.identifier === 'slices@example.com'));
  assert.ok(most <= 2 * 2 * 8 * 16, `${most} verifications settled between two turns of the loop (${turns} turns)`);
  v.close();
});
