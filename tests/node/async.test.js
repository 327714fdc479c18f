'use strict';
// The asynchronous path (issue 12): every network call runs on the client's I/O thread and settles through one
// thread-safe function, never on the libuv pool; AbortSignal cancels at every stage; per-call deadlines; calls in
// flight survive close() and GC; a pending call keeps the process alive and an idle one exits; a worker can end
// with calls in flight. No timing is asserted: the server holds requests (latency 30 s) far longer than anything
// the test waits for, and the test waits until the server has SEEN a request (/dev/stats) before cancelling it.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const { getEventListeners } = require('node:events');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { Client, TokenSession, Verifier, CotterError } = require('cotter-native');
const { startEmulator, ROOT } = require('./helpers/emulator');

const LIB = path.join(ROOT, 'node/lib/index.js');
const USER = 'GET /api/v0/user';
const REFRESH = 'POST /api/v0/token/:api_key_id';
const JWKS = 'GET /api/v0/token/jwks';
const HOLD_MS = 30000;  // the server holds a request this long: far beyond anything a test waits for
const LONG = { timeout: 180000 };

let emu;
let identifier;
before(async () => {
  emu = await startEmulator();
  identifier = 'async@example.com';
  await emu.dev('/users', { identifier });
});
after(async () => { await emu.stop(); });
beforeEach(async () => {
  await emu.dev('/faults', undefined, 'DELETE');
  await emu.dev('/stats/reset', {});
});

function newClient(extra = {}) {
  return new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url, ...extra });
}
async function seen(route) { return (await emu.dev('/stats')).requests[route] || 0; }
/** Waits until the server has received `n` requests of `route` (polls /dev/stats; no clock decides anything). */
async function untilSeen(route, n) {
  while (await seen(route) < n) await new Promise((r) => setTimeout(r, 20));
}
function isAbort(e) {
  return e instanceof CotterError && e.name === 'AbortError' && e.code === 'COTTER_ECANCELED' && e.status === -15;
}

test('1,000 concurrent calls held by the server all complete, over at most maxHostConnections connections', LONG, async () => {
  const c = newClient({ maxHostConnections: 16 });
  await emu.dev('/faults', { route: USER, latency_ms: 20, count: 1000 });
  const before = (await emu.dev('/stats')).connections;
  const users = await Promise.all(Array.from({ length: 1000 }, () => c.getUser(identifier)));
  assert.equal(users.length, 1000);
  assert.ok(users.every((u) => u.identifier === identifier));
  const stats = await emu.dev('/stats');
  assert.equal(stats.requests[USER], 1000);
  // Connections the server accepted meanwhile: the client's, plus the one that asked for these stats.
  const accepted = stats.connections - before - 1;
  assert.ok(accepted >= 1 && accepted <= 16, `the server accepted ${accepted} connections from the client (cap 16)`);
  assert.ok(c.stats().connections <= 16, `the client opened ${c.stats().connections} connections (cap 16)`);
  c.close();
});

// THE KEY TEST. A child with a 2-thread libuv pool starts 1,000 calls that the server holds for 30 s. With calls on
// the pool (the AsyncWorker code before issue 12) both pool threads are parked in a call, so fs and dns wait behind
// 998 more calls and the first cotter call settles (after 30 s) before fs.promises.stat: the race below fails.
test('while 1,000 calls wait on a slow server, fs.promises.stat and dns.lookup answer (2-thread pool)', LONG, async () => {
  const N = 1000;
  await emu.dev('/faults', { route: USER, latency_ms: HOLD_MS, count: N });
  const child = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const dns = require('node:dns');
    const { Client } = require(${JSON.stringify(LIB)});
    const info = JSON.parse(process.env.EMU);
    const c = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url });
    const ac = new AbortController();
    let settled = 0;
    const calls = Array.from({ length: ${N} }, () => c.getUser(process.env.WHO, { signal: ac.signal })
      .then(() => 'ok', (e) => e.name + ' ' + e.code).finally(() => { settled++; }));
    const firstCall = Promise.race(calls).then(() => 'a cotter call');
    (async () => {
      const stat = await Promise.race([fs.promises.stat(process.execPath).then(() => 'stat'), firstCall]);
      const lookup = await Promise.race([dns.promises.lookup('localhost').then(() => 'lookup'), firstCall]);
      process.send({ step: 'started', stat, lookup, settled });
      await new Promise((r) => process.once('message', r));  // the server now holds all of them
      await fs.promises.stat(process.execPath);
      await dns.promises.lookup('localhost');
      const pending = ${N} - settled;
      ac.abort();
      const outcomes = {};
      for (const o of await Promise.all(calls)) outcomes[o] = (outcomes[o] || 0) + 1;
      process.send({ step: 'done', pending, outcomes });
      c.close();
    })().catch((e) => { console.error(e); process.exit(1); });`],
  { stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '2', EMU: JSON.stringify(emu.info), WHO: identifier } });
  const exited = new Promise((r) => child.once('exit', r));
  const messages = [];
  let wake;
  child.on('message', (m) => { messages.push(m); if (wake) wake(); });
  const next = async () => { while (!messages.length) await new Promise((r) => { wake = r; }); return messages.shift(); };
  try {
    const started = await next();
    assert.deepEqual(started, { step: 'started', stat: 'stat', lookup: 'lookup', settled: 0 },
      'fs.promises.stat and dns.lookup answered before any held cotter call settled');
    await untilSeen(USER, N);  // all 1,000 are in flight at once, none queued behind a thread
    child.send('go');
    const done = await next();
    assert.equal(done.pending, N, 'every cotter call was still pending when stat and lookup answered');
    assert.deepEqual(done.outcomes, { 'AbortError COTTER_ECANCELED': N });
    assert.equal(await exited, 0);
    assert.equal(await seen(USER), N, 'the server saw each request once');
  } finally {
    child.kill('SIGKILL');
  }
});

test('an abort while the server holds the request cancels it: AbortError, cause = the reason, seen once', async () => {
  const c = newClient();
  await emu.dev('/faults', { route: USER, latency_ms: HOLD_MS, count: 1 });
  const ac = new AbortController();
  const p = c.getUser(identifier, { signal: ac.signal });
  await untilSeen(USER, 1);
  const reason = new Error('the user went away');
  ac.abort(reason);
  await assert.rejects(p, (e) => isAbort(e) && e.cause === reason && !/went away/.test(e.message));
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'the listener is removed when the call settles');
  // The client goes on working (the cancelled transfer's connection was closed, not reused half-read).
  assert.equal((await c.getUser(identifier)).identifier, identifier);
  assert.equal(await seen(USER), 2);
  c.close();
});

test('100 calls sharing one signal add one abort listener (no MaxListenersExceededWarning); one abort cancels all', async () => {
  const c = newClient();
  await emu.dev('/faults', { route: USER, latency_ms: HOLD_MS, count: 100 });
  const warnings = [];
  const onWarning = (w) => warnings.push(w.name);
  process.on('warning', onWarning);
  const ac = new AbortController();
  const calls = Array.from({ length: 100 }, () => c.getUser(identifier, { signal: ac.signal }));
  assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
  await untilSeen(USER, 100);
  ac.abort();
  const outcomes = await Promise.allSettled(calls);
  assert.ok(outcomes.every((o) => o.status === 'rejected' && isAbort(o.reason)));
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.deepEqual(warnings, []);
  c.close();
});

test('an abort mid-body (slow drip) cancels the call', async () => {
  const c = newClient();
  await emu.dev('/faults', { route: USER, slow_drip: true, chunk_bytes: 1, interval_ms: 1000, count: 1 });
  const ac = new AbortController();
  const p = c.getUser(identifier, { signal: ac.signal });
  await untilSeen(USER, 1);
  await emu.dev('/stats');  // one more round trip: the emulator has started dripping the body by now
  ac.abort();
  await assert.rejects(p, isAbort);
  assert.equal(await seen(USER), 1);
  c.close();
});

test('an abort of a call queued behind maxHostConnections: it never reaches the server', async () => {
  const c = newClient({ maxHostConnections: 1 });
  await emu.dev('/faults', { route: USER, latency_ms: HOLD_MS, count: 1 });
  const first = new AbortController();
  const queued = new AbortController();
  const a = c.getUser(identifier, { signal: first.signal });
  await untilSeen(USER, 1);
  const b = c.getUserById('nobody', { signal: queued.signal });  // waits for the one connection
  queued.abort();
  await assert.rejects(b, isAbort);
  first.abort();
  await assert.rejects(a, isAbort);
  const { requests } = await emu.dev('/stats');
  assert.equal(requests[USER], 1);
  assert.equal(requests['GET /api/v0/user/:id'], undefined, 'the queued call was never sent');
  c.close();
});

test('an already-aborted signal rejects at once and starts nothing; bad call options are COTTER_EINVAL', async () => {
  const c = newClient();
  const reason = new Error('stop');
  const signal = AbortSignal.abort(reason);
  await assert.rejects(c.getUser(identifier, { signal }), (e) => isAbort(e) && e.cause === reason);
  await assert.rejects(c.refresh('1:x', { signal }), isAbort);
  await assert.rejects(c.logout(null, { signal }), isAbort);
  await assert.rejects(c.socialTokens.list('u', { signal }), isAbort);
  const s = new TokenSession(c, { token: await emu.login('aborted@example.com') });
  await assert.rejects(s.getAccessToken({ signal }), isAbort);
  await assert.rejects(s.refresh({ signal }), isAbort);
  const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url });
  await assert.rejects(v.refresh({ signal }), isAbort);
  await assert.rejects(v.verify('a.b.c', { signal }), isAbort);
  const { requests } = await emu.dev('/stats');
  assert.deepEqual(requests, {}, 'nothing reached the server');
  assert.equal(getEventListeners(signal, 'abort').length, 0);

  for (const bad of [{ signal: 'x' }, { timeoutMs: 0 }, { timeoutMs: 1.5 }, { timeoutMs: 86400001 }, 'x', []]) {
    await assert.rejects(c.getUser(identifier, bad), { code: 'COTTER_EINVAL' });
  }
  await assert.rejects(v.verify('a.b.c', { timeoutMs: 10 }), { code: 'COTTER_EINVAL' });
  s.close();
  v.close();
  c.close();
});

test('timeoutMs is the call deadline (COTTER_ETIMEOUT); AbortSignal.timeout() cancels with a TimeoutError cause', async () => {
  const c = newClient();
  await emu.dev('/faults', { route: USER, latency_ms: HOLD_MS, count: 2 });
  await assert.rejects(c.getUser(identifier, { timeoutMs: 300 }), (e) => e instanceof CotterError && e.code === 'COTTER_ETIMEOUT');
  await assert.rejects(c.getUser(identifier, { signal: AbortSignal.timeout(300) }),
    (e) => isAbort(e) && e.cause instanceof DOMException && e.cause.name === 'TimeoutError');
  assert.equal(await seen(USER), 2);
  c.close();
});

test('session and verifier calls take a signal too: a refresh held by the server is abandoned', async () => {
  const c = newClient();
  await emu.dev('/expire_tokens', { next_access_ttl: -5, count: 1 });
  const tok = await emu.login('abandon@example.com');
  const saves = [];
  const s = new TokenSession(c, { token: tok, load: () => null, save: (json) => { saves.push(json); } });
  await emu.dev('/faults', { route: REFRESH, latency_ms: HOLD_MS, count: 1 });
  const ac = new AbortController();
  const p = s.getAccessToken({ signal: ac.signal });
  await untilSeen(REFRESH, 1);
  ac.abort();
  await assert.rejects(p, isAbort);
  s.close();  // the refresh already sent goes on in the C session; its hooks are detached safely

  const v = new Verifier({ audience: emu.info.api_key_id, baseUrl: emu.info.base_url });
  await emu.dev('/faults', { route: JWKS, latency_ms: HOLD_MS, count: 1 });
  const vc = new AbortController();
  const r = v.refresh({ signal: vc.signal });
  await untilSeen(JWKS, 1);
  vc.abort();
  await assert.rejects(r, isAbort);
  v.close();
  c.close();
});

test('close() with 100 calls in flight: they all complete; later calls are COTTER_EINVAL', async () => {
  const c = newClient();
  await emu.dev('/faults', { route: USER, latency_ms: 200, count: 100 });
  const calls = Array.from({ length: 100 }, () => c.getUser(identifier));
  c.close();
  const users = await Promise.all(calls);
  assert.ok(users.every((u) => u.identifier === identifier));
  await assert.rejects(c.getUser(identifier), { code: 'COTTER_EINVAL' });
});

test('calls in flight survive the GC of their client; a pending call keeps the process alive; an idle one exits', LONG, async () => {
  await emu.dev('/faults', { route: USER, latency_ms: 500, count: 100 });
  // No timer or handle of its own keeps this child alive: only the 100 pending calls do. If they did not (an
  // unref'd thread-safe function), the process would exit before printing; and once they are done, it must exit.
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', `
    const { Client } = require(${JSON.stringify(LIB)});
    const info = JSON.parse(process.env.EMU);
    let c = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url });
    const calls = Array.from({ length: 100 }, () => c.getUser(process.env.WHO));
    c = null;
    global.gc();
    Promise.all(calls).then((users) => {
      global.gc();
      console.log('resolved ' + users.filter((u) => u.identifier === process.env.WHO).length);
    }, (e) => { console.error(e); process.exitCode = 1; });`],
  { encoding: 'utf8', timeout: 120000, env: { ...process.env, EMU: JSON.stringify(emu.info), WHO: identifier } });
  assert.equal(r.signal, null, `the child did not exit by itself (${r.signal})`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'resolved 100');
});

// A worker ended while its calls are being settled: JS stops in the middle of the addon's work on the JS thread
// (converting a result, building a CotterError, calling the log function). The addon's N-API calls then fail; they
// must never abort the process (node-addon-api answers a failure it cannot wrap with napi_fatal_error, which is
// what the first two cases did), and the process must go on and exit by itself (no hold left behind). Each case
// runs in a child process, whose exit status is the verdict; the server's latency only keeps the calls in flight
// together (no timing is asserted).
function workerEndingMidSettle(body, rounds, terminate) {
  const script = `
    const { Worker } = require('node:worker_threads');
    const { Client } = require(${JSON.stringify(LIB)});
    const info = JSON.parse(process.env.EMU);
    const body = ${JSON.stringify(body)};
    (async () => {
      for (let round = 0; round < ${rounds}; round++) {
        const flag = new Int32Array(new SharedArrayBuffer(4));  // set by the worker's first settled call
        const w = new Worker(\`
          const { parentPort, workerData } = require('node:worker_threads');
          const { Client } = require(${JSON.stringify(LIB)});
          const info = workerData.info;
          const settled = () => { Atomics.store(workerData.flag, 0, 1); Atomics.notify(workerData.flag, 0); };
          \` + body, { eval: true, workerData: { info, flag, who: process.env.WHO } });
        const exited = new Promise((resolve) => w.once('exit', resolve));
        await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
        if (${terminate}) {
          // Blocks this thread until the worker settles its first call: the rest are being settled when it ends.
          Atomics.wait(flag, 0, 0, 60000);
          await w.terminate();
        }
        await exited;
      }
      // The main thread's own calls still work.
      const c = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url });
      console.log('after ' + (await c.getUser(process.env.WHO)).identifier);
    })().catch((e) => { console.error(e); process.exitCode = 1; });`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 170000,
    env: { ...process.env, EMU: JSON.stringify(emu.info), WHO: identifier } });
}
/** The child was not aborted, its main thread's call worked after the workers, and it exited by itself. */
function assertWentOn(r) {
  assert.equal(r.signal, null, `the child was killed by ${r.signal}: ${r.stderr.slice(0, 400)}`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `after ${identifier}`);
}
// 100 calls: half resolve with a user (JSON.parse), half reject (a CotterError built by the constructor of index.js).
const HUNDRED_CALLS = `
  const c = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url, log });
  for (let i = 0; i < 100; i++) c.getUser(i % 2 ? workerData.who : 'nobody' + i + '@example.com').then(settled, settled);
  parentPort.postMessage('started');`;

test('a worker ended by JS run while a call is settled (a setter on the way) does not abort the process', LONG, async () => {
  await emu.dev('/faults', { route: USER, latency_ms: 50, count: 500 });
  // Building a CotterError sets `oauthErrorDescription` on its details: this setter ends the worker right there.
  const r = workerEndingMidSettle(`
    const log = undefined;
    Object.defineProperty(Object.prototype, 'oauthErrorDescription', { set() { process.exit(0); }, configurable: true });
    ${HUNDRED_CALLS}`, 5, false);
  assertWentOn(r);
});

test('a worker whose log function ends it (process.exit) with calls in flight does not abort the process', LONG, async () => {
  await emu.dev('/faults', { route: USER, latency_ms: 50, count: 500 });
  const r = workerEndingMidSettle(`
    const log = () => process.exit(0);
    ${HUNDRED_CALLS}`, 5, false);
  assertWentOn(r);
});

test('a worker terminated while 100 calls are being settled, 20 times: no abort, the process exits by itself', LONG, async () => {
  await emu.dev('/faults', { route: USER, latency_ms: 50, count: 2000 });
  const r = workerEndingMidSettle(`
    const log = undefined;
    ${HUNDRED_CALLS}`, 20, true);
  assertWentOn(r);
});

test('a worker thread can end with calls and verifications in flight; the addon goes on working', LONG, async () => {
  const jwks = (await emu.request(`${emu.info.base_url}/token/jwks`)).body;
  await emu.dev('/expire_tokens', { next_access_ttl: -5, count: 1 });
  const tok = await emu.login('worker-async@example.com');
  await emu.dev('/faults', { faults: [{ route: USER, latency_ms: HOLD_MS, count: 200 }, { route: REFRESH, latency_ms: HOLD_MS, count: 1 }] });
  const w = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const { Client, TokenSession, Verifier } = require(${JSON.stringify(LIB)});
    const c = new Client({ apiKeyId: workerData.info.api_key_id, apiSecretKey: workerData.info.api_secret_key, baseUrl: workerData.info.base_url });
    for (let i = 0; i < 200; i++) c.getUser(workerData.who).catch(() => {});
    const s = new TokenSession(c, { token: workerData.tok, load: async () => null, save: async () => {} });
    s.getAccessToken().catch(() => {});
    const v = new Verifier({ audience: workerData.info.api_key_id, jwks: workerData.jwks });
    for (let i = 0; i < 2000; i++) v.verify(workerData.tok.access_token).catch(() => {});
    parentPort.postMessage('started');`, { eval: true, workerData: { info: emu.info, who: identifier, tok, jwks: JSON.stringify(jwks) } });
  await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  await untilSeen(USER, 200);
  await untilSeen(REFRESH, 1);
  assert.equal(await w.terminate(), 1);
  const c = newClient();
  assert.equal((await c.getUserById((await c.getUser(identifier)).id)).identifier, identifier);
  c.close();
});

// A refresh already sent goes on after its caller aborted; the session is then closed and collected. When the
// answer comes, the C session still stores it: its hooks must be valid (no use after free, tested under ASan by
// scripts/test-hardening.sh) and detached (the closed session's JS hooks are not called). The client's debug log
// line for that answer, then one more call on the same I/O thread, order the check after the abandoned operation.
test('a session closed and collected after an abort: the abandoned refresh ends safely, without calling its hooks', LONG, async () => {
  await emu.dev('/expire_tokens', { next_access_ttl: -5, count: 1 });
  const tok = await emu.login('detached@example.com');
  await emu.dev('/faults', { route: REFRESH, latency_ms: 500, count: 1 });
  const child = spawn(process.execPath, ['--expose-gc', '-e', `
    const { Client, TokenSession } = require(${JSON.stringify(LIB)});
    const info = JSON.parse(process.env.EMU);
    let answered;
    const refreshAnswered = new Promise((r) => { answered = r; });
    const c = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url,
      log: (level, message) => { if (/^POST .*\\/token\\/[^/]+ -> 200/.test(message)) answered(); } });
    let saves = 0;
    let changes = 0;
    let s = new TokenSession(c, { token: JSON.parse(process.env.TOK), load: async () => null,
      save: async () => { saves++; }, onTokensChanged: () => { changes++; } });
    const ac = new AbortController();
    const p = s.getAccessToken({ signal: ac.signal }).then(() => 'resolved', (e) => e.name);
    process.send('started');
    process.once('message', async () => {  // the server holds the refresh now
      ac.abort();
      const outcome = await p;
      const before = { saves, changes };
      s.close();
      s = null;
      for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
      // The abandoned refresh is no call of ours: it does not keep the process alive (rightly). This does.
      const alive = setInterval(() => {}, 1000);
      await refreshAnswered;
      const user = await c.getUser(process.env.WHO);  // runs after the abandoned refresh's completion
      await new Promise((r) => setImmediate(r));
      process.send({ outcome, saves: saves - before.saves, changes: changes - before.changes, user: user.identifier });
      clearInterval(alive);
      c.close();
    });`],
  { stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, EMU: JSON.stringify(emu.info), TOK: JSON.stringify(tok), WHO: identifier } });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await new Promise((r) => child.once('message', r));
    await untilSeen(REFRESH, 1);
    const result = new Promise((r) => child.once('message', r));
    child.send('go');
    assert.deepEqual(await Promise.race([result, exited.then((code) => `the child exited (${code}) without an answer`)]), { outcome: 'AbortError', saves: 0, changes: 0, user: identifier });
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
