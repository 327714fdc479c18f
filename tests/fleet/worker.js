'use strict';
/**
 * @file tests/fleet/worker.js
 * @brief The Node worker of the fleet test (issue 17; the contract: one client, one RedisStore over ioredis, N
 *        shared sessions, CONCURRENCY async lanes calling getAccessToken on random sessions for SECONDS, one JSON
 *        line at the end). Run as `node tests/fleet/worker.js` with the COTTER_FLEET_* environment of the driver.
 *        Exits non-zero only when it cannot set up (the reason on stderr).
 */
const Redis = require('ioredis');
const { Client, TokenSession, RedisStore } = require('../../node/lib/index.js');

function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    process.stderr.write(`fleet worker (node): ${name} is not set\n`);
    process.exit(2);
  }
  return v;
}

/** `redis://host:port` (standalone) or `redis-cluster://h1:p1,h2:p2,...` (ioredis Cluster over those seeds). */
function redisClient(url) {
  if (url.startsWith('redis-cluster://')) {
    const nodes = url.slice('redis-cluster://'.length).split(',').map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    });
    return new Redis.Cluster(nodes);
  }
  return new Redis(url);
}

let redis;
let sessions;
let client;
let store;
try {
  const n = Number(env('COTTER_FLEET_SESSIONS'));
  redis = redisClient(env('COTTER_FLEET_REDIS'));
  redis.on('error', () => {});  // counted through the calls that fail
  store = new RedisStore(redis, { keyPrefix: env('COTTER_FLEET_PREFIX'), leaseTtlMs: Number(env('COTTER_FLEET_LEASE_MS')) });
  client = new Client({ apiKeyId: env('COTTER_FLEET_API_KEY_ID'), apiSecretKey: env('COTTER_FLEET_API_SECRET_KEY'),
    baseUrl: env('COTTER_FLEET_BASE_URL') });
  const margin = Number(env('COTTER_FLEET_MARGIN'));
  sessions = Array.from({ length: n }, (_, i) => new TokenSession(client,
    { sharedStore: store, sharedSessionId: `fleet-${i}`, marginSeconds: margin }));
} catch (e) {
  process.stderr.write(`fleet worker (node): setup failed: ${e.code || ''} ${e.message}\n`);
  process.exit(1);
}

const seconds = Number(env('COTTER_FLEET_SECONDS'));
const concurrency = Number(env('COTTER_FLEET_CONCURRENCY'));
const pauseMs = Number(env('COTTER_FLEET_PAUSE_MS'));
const result = { lang: 'node', pid: process.pid, calls: 0, ok: 0, errors: {} };
let stopping = false;
let reported = false;

function report() {
  if (reported) return;
  reported = true;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function lane() {
  while (!stopping) {
    const s = sessions[Math.floor(Math.random() * sessions.length)];
    result.calls++;
    try {
      const t = await s.getAccessToken();
      if (typeof t === 'string' && t.split('.').length === 3) result.ok++;
      else result.errors.NOT_A_JWT = (result.errors.NOT_A_JWT || 0) + 1;
    } catch (e) {
      const name = typeof e.code === 'string' ? e.code : 'EXCEPTION';
      result.errors[name] = (result.errors[name] || 0) + 1;
      if (result.errors[name] === 1) process.stderr.write(`fleet worker (node) ${process.pid}: ${name}: ${e.message}\n`);
    }
    if (pauseMs > 0 && !stopping) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

function finish() {
  report();
  for (const s of sessions) s.close();
  store.close();
  client.close();
  redis.disconnect();
  process.exit(0);
}

// SIGTERM (tests/fleet/README.md): stop starting calls and let those in flight end; the lanes then finish().
process.on('SIGTERM', () => { stopping = true; });
process.stdout.write('ready\n');
const timer = setTimeout(() => { stopping = true; }, seconds * 1000);
Promise.all(Array.from({ length: concurrency }, lane)).then(() => { clearTimeout(timer); finish(); });
