'use strict';
// Sessions shared by a fleet through Redis (docs/node.md, "Sessions shared by a fleet (Redis)"): RedisStore over
// ioredis and SharedStore over any eval, against a real redis-server started here (standalone on a Unix socket, and a
// 3-master cluster) and the emulator. Expiry is driven by the emulator (tokens issued already expired), never by
// sleeps; grants and revocations are counted at the emulator (/dev/stats), Redis commands by INFO commandstats.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');
const readline = require('node:readline');
const { Client, TokenSession, SharedStore, RedisStore, Token, CotterError } = require('cotter-native');
const { startEmulator } = require('./helpers/emulator');
const { startRedis, startCluster, scriptCalls, connect } = require('./helpers/redis');

const REFRESH = 'POST /api/v0/token/:api_key_id';
const CHILD = path.join(__dirname, 'helpers', 'shared_store_child.js');

let emu;
let redis;  // the standalone server
let client;

before(async () => {
  emu = await startEmulator();
  redis = await startRedis();
  client = new Client({ apiKeyId: emu.info.api_key_id, apiSecretKey: emu.info.api_secret_key, baseUrl: emu.info.base_url });
});

after(async () => {
  client.close();
  await redis.kill();
  await emu.stop();
});

const grants = async () => (await emu.dev('/stats')).requests[REFRESH] || 0;

/** `n` logins whose access tokens are already expired (their refresh tokens are good): every use needs a refresh. */
async function expiredLogins(n) {
  await emu.dev('/expire_tokens', { next_access_ttl: -60, count: n });
  const out = [];
  for (let i = 0; i < n; i++) out.push(await emu.login());
  const now = Math.floor(Date.now() / 1000);
  for (const t of out) assert.ok(Token.from(t).expiresAt < now, 'the seeded access token is expired');
  return out;
}

/** Stores each login under its id (version 1) through setToken: the `set` script, no refresh. */
async function seed(store, ids, logins) {
  for (let i = 0; i < ids.length; i++) {
    const s = new TokenSession(client, { sharedStore: store, sharedSessionId: ids[i] });
    await s.setToken(logins[i]);
    s.close();
  }
}

function startChild(cfg) {
  const p = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: p.stdout });
  const queue = [];
  const waiting = [];
  lines.on('line', (l) => (waiting.length ? waiting.shift()(l) : queue.push(l)));
  const exited = once(p, 'exit');
  return {
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r))),
    send: (l) => p.stdin.write(`${l}\n`),
    exited,
  };
}

/**
 * `procs` replica processes x `lanes` calls in flight share `n` sessions whose access tokens are expired: exactly
 * one refresh grant per session, no family revoked, every call a JWT; then a round on the valid cached tokens runs
 * no Redis script at all (when `admin` can count them). Resolves to the scripts of the refresh round.
 */
async function contention(t, { url, admin, prefix, n, procs, lanes }) {
  const seedRedis = connect(url);
  const seeder = new RedisStore(seedRedis, { keyPrefix: prefix });
  const ids = Array.from({ length: n }, (_, i) => `user-${i}`);
  await seed(seeder, ids, await expiredLogins(n));
  const children = [];
  for (let i = 0; i < procs; i++) {
    children.push(startChild({ baseUrl: emu.info.base_url, apiKeyId: emu.info.api_key_id,
      apiSecretKey: emu.info.api_secret_key, redis: url, prefix, ids, lanes }));
  }
  for (const c of children) assert.equal(await c.next(), 'ready');
  await emu.dev('/stats/reset', {});
  if (admin) await admin.config('RESETSTAT');

  for (const c of children) c.send('go');
  for (const c of children) assert.deepEqual(JSON.parse(await c.next()), { ok: n, errors: {}, bad: 0 });
  const stats = await emu.dev('/stats');
  assert.equal(stats.requests[REFRESH], n, 'one refresh grant per session');
  assert.equal(stats.refresh_families_revoked, 0);
  const refreshScripts = admin ? await scriptCalls(admin) : null;

  // Every session's version moved once past the seed: grants == versions written.
  const check = connect(url);
  for (const id of ids) assert.equal(String(await check.hget(`${prefix}:{${id}}:tokens`, 'v')), '2', id);
  check.disconnect();

  if (admin) await admin.config('RESETSTAT');
  for (const c of children) c.send('go');
  for (const c of children) assert.deepEqual(JSON.parse(await c.next()), { ok: n, errors: {}, bad: 0 });
  if (admin) assert.equal(await scriptCalls(admin), 0, 'valid cached tokens cost no Redis command');
  assert.equal(await grants(), n, 'no refresh on the cached round');

  for (const c of children) c.send('exit');
  // `exit` closes the sessions and disconnects Redis: an idle store must not keep the event loop alive.
  for (const c of children) assert.deepEqual(await c.exited, [0, null]);
  seeder.close();
  seedRedis.disconnect();
  return refreshScripts;
}

test('3 processes x 8 calls in flight share 30 expired sessions: one grant each, no revocation, 0 scripts when cached', async (t) => {
  const scripts = await contention(t, { url: redis.url, admin: redis.admin, prefix: 'contend', n: 30, procs: 3, lanes: 8 });
  // Each refresh is acquire + save for its winner; the others' acquires poll while it is in flight.
  assert.ok(scripts >= 60, `at least 2 scripts per refresh (${scripts})`);
  t.diagnostic(`Redis scripts for 30 shared refreshes by 3 processes: ${scripts}`);
});

test('a 3-master Redis Cluster: the same contention through ioredis Cluster, sessions spread over slots', async (t) => {
  const cluster = await startCluster();
  t.after(() => cluster.stop());
  await contention(t, { url: cluster.url, admin: null, prefix: 'cl', n: 24, procs: 2, lanes: 6 });
  // The ids hash to slots on every master (the test would prove little with all of them on one node).
  const c = connect(cluster.url);
  const masters = new Set();
  const slots = await c.cluster('SLOTS');
  for (let i = 0; i < 24; i++) {
    const slot = Number(await c.cluster('KEYSLOT', `cl:{user-${i}}:tokens`));
    masters.add(slots.find(([lo, hi]) => slot >= lo && slot <= hi)[2][1]);
  }
  c.disconnect();
  assert.equal(masters.size, 3);
});

test('Redis down: a valid cached token is still served; a needed refresh is COTTER_ESHARED_UNAVAILABLE, nothing sent', async (t) => {
  const own = await startRedis();
  const r = connect(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  r.on('error', () => {});
  t.after(async () => { r.disconnect(); await own.kill(); });  // also when an assertion fails: nothing left running
  await once(r, 'ready');  // without an offline queue, a command sent before the connection is up fails at once
  const store = new RedisStore(r, { keyPrefix: 'down' });
  const login = await emu.login();
  const s = new TokenSession(client, { sharedStore: store, sharedSessionId: 'u', token: login });
  const cached = await s.getAccessToken();
  assert.equal(cached, login.access_token);

  const closed = once(r, 'close');
  await own.kill();
  await closed;
  const before = await grants();
  assert.equal(await s.getAccessToken(), cached, 'the valid cached token is served without Redis');
  await assert.rejects(s.refresh(), (e) => e instanceof CotterError && e.code === 'COTTER_ESHARED_UNAVAILABLE'
    && e.status === -17 && !e.message.includes(login.refresh_token));
  assert.equal(await grants(), before, 'no refresh without the lease');
  const other = new TokenSession(client, { sharedStore: store, sharedSessionId: 'v' });
  await assert.rejects(other.getAccessToken(), { code: 'COTTER_ESHARED_UNAVAILABLE' });
  s.close();
  other.close();
  store.close();
});

test('SharedStore over a plain eval: Buffers, strings and integers are flattened; errors never carry a token', async (t) => {
  const r = connect(redis.url);
  t.after(() => r.disconnect());
  const seen = [];
  // Replies as node-redis gives them (strings, numbers), with EVAL only: any client fits.
  const store = new SharedStore({
    async eval(script, sha1, keys, args) {
      seen.push(sha1);
      const reply = await r.eval(script, keys.length, ...keys, ...args);
      return reply.map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    },
  }, { keyPrefix: 'plain' });
  const login = await emu.login();
  const s = new TokenSession(client, { sharedStore: store, sharedSessionId: 'u', token: login });
  const t1 = await s.refresh();
  assert.notEqual(t1.accessToken, login.access_token);
  assert.equal(String(await r.hget('plain:{u}:tokens', 'v')), '2');
  assert.ok(seen.every((x) => /^[0-9a-f]{40}$/.test(x)));
  s.close();
  store.close();

  // A client whose error quotes the command (its arguments hold the tokens).
  const loud = new SharedStore({ eval: async (script, sha1, keys, args) => { throw new Error(`ERR in EVALSHA ${args.join(' ')}`); } });
  const s2 = new TokenSession(client, { sharedStore: loud, sharedSessionId: 'u', token: login });
  await assert.rejects(s2.getAccessToken(), (e) => {
    assert.equal(e.code, 'COTTER_ESHARED_UNAVAILABLE');
    for (const secret of [login.refresh_token, login.access_token, login.id_token]) assert.ok(!e.message.includes(secret), e.message);
    return true;
  });
  s2.close();

  // A reply that is not an array of bytes, text or integers; an eval that throws at once.
  for (const bad of [async () => 'saved', async () => [{ v: 1 }], () => { throw new Error('sync'); }]) {
    const st = new SharedStore({ eval: bad });
    const s3 = new TokenSession(client, { sharedStore: st, sharedSessionId: 'u' });
    await assert.rejects(s3.getAccessToken(), { code: 'COTTER_ESHARED_UNAVAILABLE' });
    s3.close();
    st.close();
  }
});

test('bad options are COTTER_EINVAL', () => {
  const store = new SharedStore({ eval: async () => [] });
  const invalid = { code: 'COTTER_EINVAL' };
  assert.throws(() => new SharedStore(null), invalid);
  assert.throws(() => new SharedStore({ eval: 1 }), invalid);
  assert.throws(() => new RedisStore({}), invalid);
  assert.throws(() => new SharedStore({ eval: async () => [] }, { keyPrefix: 'a{b}' }), invalid);
  assert.throws(() => new SharedStore({ eval: async () => [] }, { keyPrefix: '' }), invalid);
  assert.throws(() => new SharedStore({ eval: async () => [] }, { leaseTtlMs: 5 }), invalid);
  assert.throws(() => new SharedStore({ eval: async () => [] }, { waitMs: 0 }), invalid);
  assert.throws(() => new SharedStore({ eval: async () => [] }, { waitMs: 1.5 }), invalid);
  assert.throws(() => new TokenSession(client, { sharedStore: {}, sharedSessionId: 'u' }), invalid);
  assert.throws(() => new TokenSession(client, { sharedStore: store }), invalid);
  assert.throws(() => new TokenSession(client, { sharedSessionId: 'u' }), invalid);
  assert.throws(() => new TokenSession(client, { sharedStore: store, sharedSessionId: 'u', file: '/tmp/x' }), invalid);
  assert.throws(() => new TokenSession(client, { sharedStore: store, sharedSessionId: 'u',
    load: async () => null, save: async () => {} }), invalid);
  assert.throws(() => new TokenSession(client, { sharedStore: store, sharedSessionId: 'u\0v' }), invalid);
  store.close();
  assert.throws(() => new TokenSession(client, { sharedStore: store, sharedSessionId: 'u' }), invalid);
});

test('a session id with a brace (it would break the hash tag) is COTTER_EINVAL when the session opens', async () => {
  const store = new SharedStore({ eval: async () => { throw new Error('not reached'); } });
  for (const id of ['a{b', 'a}b', '', 'x'.repeat(201)]) {
    const s = new TokenSession(client, { sharedStore: store, sharedSessionId: id });
    await assert.rejects(s.getAccessToken(), { code: 'COTTER_EINVAL' }, JSON.stringify(id));
    s.close();
  }
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

const PRELUDE = `
const { Client, TokenSession, SharedStore, RedisStore } = require('./node/lib/index.js');
const { connect } = require('./tests/node/helpers/redis');
const client = new Client({ apiKeyId: process.env.K, apiSecretKey: process.env.S, baseUrl: process.env.B });
`;

test('process exit with evals in flight (a Redis that never answers) does not crash or hang', async () => {
  // CLIENT PAUSE holds every command of the store's connection for 30 s, far beyond this process's life.
  const own = await startRedis();
  const env = { K: emu.info.api_key_id, S: emu.info.api_secret_key, B: emu.info.base_url, R: own.url };
  const login = await emu.login();
  env.T = JSON.stringify(login);
  const r = await runScript(`${PRELUDE}
    const r = connect(process.env.R);
    let pending = 0;
    const store = new SharedStore({ eval: (...a) => { pending++; if (pending === 4) setImmediate(() => process.exit(0));
      return r.callBuffer('EVALSHA', [a[1], a[2].length, ...a[2], ...a[3]]).catch(() => r.callBuffer('EVAL', [a[0], a[2].length, ...a[2], ...a[3]])); } });
    (async () => {
      const seedS = new TokenSession(client, { sharedStore: new RedisStore(r), sharedSessionId: 'x', token: JSON.parse(process.env.T) });
      await seedS.getToken();
      const admin = connect(process.env.R);
      await admin.call('CLIENT', 'PAUSE', '30000', 'ALL');
      for (const id of ['x', 'y', 'z', 'w']) new TokenSession(client, { sharedStore: store, sharedSessionId: id }).getAccessToken().catch(() => {});
    })();
  `, env);
  await own.kill();
  assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
});

test('the environment going away settles evals still queued or pending (worker thread terminated)', async () => {
  const own = await startRedis();
  const env = { K: emu.info.api_key_id, S: emu.info.api_secret_key, B: emu.info.base_url, R: own.url };
  const r = await runScript(`
    const { Worker } = require('node:worker_threads');
    const w = new Worker(${JSON.stringify(PRELUDE)} + \`
      const { parentPort } = require('node:worker_threads');
      const store = new SharedStore({ eval: () => { parentPort.postMessage('eval'); return new Promise(() => {}); } });
      for (let i = 0; i < 3; i++) new TokenSession(client, { sharedStore: store, sharedSessionId: 'id' + i }).getAccessToken().catch(() => {});
    \`, { eval: true });
    let evals = 0;
    w.on('message', () => { if (++evals === 3) w.terminate().then(() => console.log('terminated')); });
  `, env);
  await own.kill();
  assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
  assert.match(r.stdout, /terminated/);
});

test('free order: the store closed before its sessions are used, sessions closed before their calls settle', async (t) => {
  const r = connect(redis.url);
  t.after(() => r.disconnect());
  const store = new RedisStore(r, { keyPrefix: 'order' });
  const login = await emu.login();
  const a = new TokenSession(client, { sharedStore: store, sharedSessionId: 'u', token: login });
  const b = new TokenSession(client, { sharedStore: store, sharedSessionId: 'u' });
  store.close();  // the sessions keep it (and its eval) alive
  assert.equal(await a.getAccessToken(), login.access_token);
  const pending = b.refresh();  // its first read and the refresh go on after close()
  b.close();
  const refreshed = await pending;
  assert.notEqual(refreshed.accessToken, login.access_token);
  assert.equal(String(await r.hget('order:{u}:tokens', 'v')), '2');
  a.close();
});
