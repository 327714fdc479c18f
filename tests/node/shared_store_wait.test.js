'use strict';
// Waiters woken by the `...:changed` message (docs/node.md, "Sessions shared by a fleet (Redis)"): RedisStore's wait
// over a real redis-server (started here, on a Unix socket) and the emulator. A holder's save is held by its own
// adapter (the gate below) for as long as the test wants, so the losers wait on a lease that stays held: what the
// test checks is reached as a state (PUBSUB NUMSUB, the sessions' debug log), never timed.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');
const { Client, TokenSession, SharedStore, RedisStore } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');
const { startRedis, startCluster, connect } = require('./helpers/redis');

const REFRESH = 'POST /api/v0/token/:api_key_id';

let emu;
let redis;
let client;     // the holder's
let logged;     // the losers': counts what their sessions log about each wait
const wakes = { woken: 0, timedOut: 0, failed: 0 };

before(async () => {
  emu = await startEmulator();
  redis = await startRedis();
  const creds = { apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url };
  client = new Client(creds);
  // core/token/session.cpp (shared_wait) logs one debug line per wait.
  logged = new Client({ ...creds, log: (level, m) => {
    if (m.includes("woken by the store's message")) wakes.woken++;
    else if (m.includes('no message within')) wakes.timedOut++;
    else if (m.includes("wait for the store's message failed")) wakes.failed++;
  } });
});

after(async () => {
  client.close();
  logged.close();
  await redis.kill();
  await emu.stop();
});

const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const grants = async () => (await emu.dev('/stats')).requests[REFRESH] || 0;
const numsub = async (channel) => Number((await redis.admin.call('PUBSUB', 'NUMSUB', channel))[1]);

/** Polls `cond` every 5 ms, up to 60 s (a loaded machine): a state the other side reaches, never a timing. */
async function until(cond, what) {
  for (let i = 0; i < 12000; i++) {
    if (await cond()) return;
    await pause(5);
  }
  assert.fail(`never reached: ${what}`);
}

/** PUBLISHes on `channel` by hand (as another replica's write would) until `counter()` reaches `atLeast`. */
async function publishUntil(channel, counter, atLeast, what) {
  await until(async () => {
    if (counter() >= atLeast) return true;
    await redis.admin.publish(channel, '0');
    return false;
  }, what);
}

/** A store whose save (the script with 'fenced') waits until the test lets it go; everything else runs at once. */
function gateStore(r, prefix) {
  const gate = { hold: false, held: null, release: null };
  gate.store = new SharedStore({
    async eval(script, sha1, keys, args) {
      if (gate.hold && script.includes("'fenced'")) {
        gate.hold = false;
        await new Promise((resolve) => { gate.release = resolve; gate.held?.(); });
      }
      return r.callBuffer('EVAL', [script, keys.length, ...keys, ...args]);
    },
  }, { keyPrefix: prefix, leaseTtlMs: 60000 });
  gate.holdNextSave = () => new Promise((resolve) => { gate.hold = true; gate.held = resolve; });
  return gate;
}

/** A login whose access token is already expired: the first use refreshes. */
async function expiredLogin() {
  await emu.dev('/expire_tokens', { next_access_ttl: -60, count: 1 });
  return emu.login();
}

test('a contended refresh: the losers wait on the message, one grant, every loser gets the new token', async (t) => {
  const prefix = 'woken';
  const channel = `${prefix}:{u}:changed`;
  const r0 = connect(redis.url);
  const ra = connect(redis.url);
  const rb = connect(redis.url);
  t.after(() => { r0.disconnect(); ra.disconnect(); rb.disconnect(); });
  const gate = gateStore(r0, prefix);
  const holder = new TokenSession(client, { sharedStore: gate.store, sharedSessionId: 'u', token: await expiredLogin() });
  // Two stores (two subscriber connections), three losers: store A's channel has two waiters.
  const a = new RedisStore(ra, { keyPrefix: prefix, leaseTtlMs: 60000 });
  const b = new RedisStore(rb, { keyPrefix: prefix, leaseTtlMs: 60000 });
  const losers = [a, a, b].map((st) => new TokenSession(logged, { sharedStore: st, sharedSessionId: 'u' }));
  const grants0 = await grants();
  const before0 = { ...wakes };

  const held = gate.holdNextSave();
  const hp = holder.getAccessToken();
  await held;  // the holder refreshed at Cotter and holds the lease; its save waits
  const lp = losers.map((s) => s.getAccessToken());
  await until(async () => (await numsub(channel)) === 2, 'both loser stores subscribed');
  // A message wakes a waiting loser (which reads again, finds the lease still held and waits again).
  await publishUntil(channel, () => wakes.woken, before0.woken + 1, 'a message woke a loser');
  gate.release();  // the save: the next version, published on the channel
  const fresh = await hp;
  assert.match(fresh, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  for (const p of lp) assert.equal(await p, fresh, 'every loser serves the holder\'s new token');
  assert.equal(await grants() - grants0, 1, 'one refresh grant: no loser refreshed');
  assert.equal(wakes.failed, before0.failed, 'no failed wait');
  assert.equal(await numsub(channel), 2, 'the channel stays subscribed after its last waiter (it lingers)');
  t.diagnostic(`waits: ${wakes.woken - before0.woken} woken by a message, ${wakes.timedOut - before0.timedOut} bounds passed`);
  for (const s of [holder, ...losers]) s.close();
  for (const st of [gate.store, a, b]) st.close();
});

test('the subscriber connection killed while losers wait: the waits fail, the next one reconnects, the session succeeds', async (t) => {
  const prefix = 'killed';
  const channel = `${prefix}:{u}:changed`;
  const r0 = connect(redis.url);
  const rl = connect(redis.url);
  t.after(() => { r0.disconnect(); rl.disconnect(); });
  const gate = gateStore(r0, prefix);
  const holder = new TokenSession(client, { sharedStore: gate.store, sharedSessionId: 'u', token: await expiredLogin() });
  // waitMs 10 s: most of a loser's time is spent inside a wait, so a kill lands on a pending one soon.
  const store = new RedisStore(rl, { keyPrefix: prefix, leaseTtlMs: 60000, waitMs: 10000 });
  const loser = new TokenSession(logged, { sharedStore: store, sharedSessionId: 'u' });
  const grants0 = await grants();
  const before0 = { ...wakes };

  const held = gate.holdNextSave();
  const hp = holder.getAccessToken();
  await held;
  const lp = loser.getAccessToken();
  await until(async () => (await numsub(channel)) === 1, 'the loser subscribed');
  // Kill every pub/sub connection (only this store's subscribes now) until a pending wait has failed by it.
  await until(async () => {
    if (wakes.failed > before0.failed) return true;
    await redis.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    return false;
  }, 'a wait failed with its connection');
  // The next wait makes a new subscriber connection, and a message wakes it there.
  await publishUntil(channel, () => wakes.woken, before0.woken + 1, 'a message woke the loser on a new connection');
  gate.release();
  const fresh = await hp;
  assert.equal(await lp, fresh, 'the loser re-read the store and serves the new token');
  assert.equal(await grants() - grants0, 1, 'one refresh grant');
  holder.close();
  loser.close();
  gate.store.close();
  store.close();
});

test('a Redis Cluster: the loser subscribes on one master, a PUBLISH on any node wakes it', async (t) => {
  const cluster = await startCluster();
  const nodes = cluster.nodes.map((n) => connect(`redis://${n.host}:${n.port}`));
  const r0 = connect(cluster.url);
  const rl = connect(cluster.url);
  t.after(async () => { for (const c of [...nodes, r0, rl]) c.disconnect(); await cluster.stop(); });
  const channel = 'clw:{u}:changed';
  const subscribed = async () => {
    let n = 0;
    for (const c of nodes) n += Number((await c.call('PUBSUB', 'NUMSUB', channel))[1]);
    return n;
  };
  const gate = gateStore(r0, 'clw');
  const holder = new TokenSession(client, { sharedStore: gate.store, sharedSessionId: 'u', token: await expiredLogin() });
  const store = new RedisStore(rl, { keyPrefix: 'clw', leaseTtlMs: 60000 });
  const loser = new TokenSession(logged, { sharedStore: store, sharedSessionId: 'u' });
  const grants0 = await grants();
  const before0 = { ...wakes };
  const held = gate.holdNextSave();
  const hp = holder.getAccessToken();
  await held;
  const lp = loser.getAccessToken();
  await until(async () => (await subscribed()) === 1, 'the loser subscribed on one node');
  let at = 0;  // every node in turn: the message crosses the cluster bus to the subscribed one
  await until(async () => {
    if (wakes.woken > before0.woken) return true;
    await nodes[at++ % nodes.length].publish(channel, '0');
    return false;
  }, 'a message published on some node woke the loser');
  gate.release();
  assert.equal(await lp, await hp);
  assert.equal(await grants() - grants0, 1, 'one refresh grant');
  assert.equal(wakes.failed, before0.failed, 'no failed wait');
  holder.close();
  loser.close();
  gate.store.close();
  store.close();
});

test('SharedStore: wait is optional and checked; a wait that rejects or throws makes the waiter poll', async (t) => {
  assert.throws(() => new SharedStore({ eval: async () => [], wait: 1 }), { code: 'COTTER_EINVAL' });
  const r0 = connect(redis.url);
  const rl = connect(redis.url);
  t.after(() => { r0.disconnect(); rl.disconnect(); });
  const gate = gateStore(r0, 'broken');
  const holder = new TokenSession(client, { sharedStore: gate.store, sharedSessionId: 'u', token: await expiredLogin() });
  const seen = [];
  const store = new SharedStore({
    eval: (script, sha1, keys, args) => rl.callBuffer('EVAL', [script, keys.length, ...keys, ...args]),
    wait: (channel, timeoutMs) => {
      seen.push([channel, timeoutMs]);
      if (seen.length % 2) throw new Error('sync failure');
      return Promise.reject(new Error('async failure'));
    },
  }, { keyPrefix: 'broken', leaseTtlMs: 60000 });
  const loser = new TokenSession(logged, { sharedStore: store, sharedSessionId: 'u' });
  const before0 = { ...wakes };
  const held = gate.holdNextSave();
  const hp = holder.getAccessToken();
  await held;
  const lp = loser.getAccessToken();
  await until(() => wakes.failed >= before0.failed + 2, 'both kinds of failed wait were reported');
  gate.release();
  assert.equal(await lp, await hp);
  for (const [channel, ms] of seen) {
    assert.equal(channel, 'broken:{u}:changed');
    assert.ok(Number.isInteger(ms) && ms >= 1 && ms <= 100, String(ms));  // the polling schedule, up to waitMs
  }
  holder.close();
  loser.close();
  gate.store.close();
  store.close();
});

/** Runs `source` in a fresh Node process (its own addon instance); resolves to { code, signal, stdout, stderr }. */
async function runScript(source, env = {}) {
  const p = spawn(process.execPath, ['-e', source], { cwd: path.join(__dirname, '..', '..'), env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => { stdout += d; });
  p.stderr.on('data', (d) => { stderr += d; });
  const [code, signal] = await once(p, 'exit');
  return { code, signal, stdout, stderr };
}

// A holder whose save waits for releaseSave() (its adapter holds it) and a RedisStore loser that waits, in a child.
const WAITING = `
const { Client, TokenSession, SharedStore, RedisStore } = require('./node/lib/index.js');
const { connect } = require('./tests/node/helpers/redis');
const creds = { apiKeyId: process.env.K, apiSecretKey: process.env.S, baseUrl: process.env.B };
let onWait = () => {};
const client = new Client({ ...creds, log: (l, m) => { if (m.includes('no message within')) onWait(); } });
const r0 = connect(process.env.R);
const rl = connect(process.env.R);
let releaseSave;  // the holder's save waits for it (never called: the lease is never saved)
const saveGate = new Promise((resolve) => { releaseSave = resolve; });
const run = (script, keys, args) => r0.callBuffer('EVAL', [script, keys.length, ...keys, ...args]);
let saveReached;
const saveHeld = new Promise((resolve) => { saveReached = resolve; });
const holdAll = new SharedStore({ eval: (script, sha1, keys, args) => {
  if (!script.includes("'fenced'")) return run(script, keys, args);
  saveReached();
  return saveGate.then(() => run(script, keys, args));
} }, { leaseTtlMs: 60000 });
const store = new RedisStore(rl, { leaseTtlMs: 60000, waitMs: 10000 });
const holder = new TokenSession(client, { sharedStore: holdAll, sharedSessionId: process.env.ID, token: JSON.parse(process.env.T) });
holder.getAccessToken().catch(() => {});
const loser = new TokenSession(client, { sharedStore: store, sharedSessionId: process.env.ID });
// The loser starts once the holder stored the login and holds the lease (its save is held): it finds it busy.
const loserToken = () => saveHeld.then(() => loser.getAccessToken());
`;

async function waitingEnv(id) {
  return { K: emu.info.api_key_id, S: emu.info.api_secret_key, B: emu.info.base_url, R: redis.url, ID: id,
    T: JSON.stringify(await expiredLogin()) };
}

test('process.exit() with waits pending (a lease never saved) does not crash or hang', async () => {
  // After a few bounds passed, the loser's wait (up to 10 s) is pending on its subscriber connection.
  const r = await runScript(`${WAITING}
    let waits = 0;
    onWait = () => { if (++waits === 3) setImmediate(() => process.exit(0)); };
    loserToken().catch(() => {});
  `, await waitingEnv('exit1'));
  assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
});

test('a worker terminated with waits pending ends cleanly; an idle RedisStore keeps no process alive', async () => {
  const env = await waitingEnv('exit2');
  const r = await runScript(`
    const { Worker } = require('node:worker_threads');
    const w = new Worker(${JSON.stringify(WAITING)} + \`
      const { parentPort } = require('node:worker_threads');
      let waits = 0;
      onWait = () => { if (++waits === 3) parentPort.postMessage('waiting'); };
      loserToken().catch(() => {});
    \`, { eval: true });
    w.once('message', () => w.terminate().then(() => console.log('terminated')));
  `, env);
  assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
  assert.match(r.stdout, /terminated/);

  // Natural exit: the loser waited (its store has a subscriber connection, its channel lingers for 30 s), then the
  // holder saves, the calls settle, the sessions and the user's clients are closed: the process ends by itself.
  const env3 = await waitingEnv('exit3');
  const n = await runScript(`${WAITING}
    let waits = 0;
    onWait = () => { if (++waits === 2) releaseSave(); };
    Promise.all([holder.getAccessToken(), loserToken()]).then(([a, b]) => {
      console.log(a === b ? 'served' : 'not served');
      for (const x of [holder, loser, holdAll, store, client]) x.close();
      r0.disconnect();
      rl.disconnect();
    }, (e) => { console.log('failed ' + e.code); process.exit(1); });
  `, env3);
  assert.deepEqual([n.code, n.signal], [0, null], n.stderr);
  assert.match(n.stdout, /served/);
});
