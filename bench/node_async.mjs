/**
 * @file bench/node_async.mjs
 * @brief Issue 12, Node: 1,000 concurrent refresh grants against the emulator holding each one 100 ms
 * (`latency_ms: 100` on the refresh route), through cotter-node and through Node's fetch (undici, its default
 * keep-alive pool), same requests, interleaved rounds; and fs.promises.stat latency during that storm. JSON lines:
 *  - node_async_refresh_1000          cotter grants/s of the burst; ratio = ours / fetch (target ≥ 1.0, goal 1.2);
 *                                     cpu_us_per_call of this process (process.cpuUsage: main + I/O threads)
 *  - node_fetch_refresh_1000          the peer: fetch grants/s and its CPU per call
 *  - node_async_cpu_per_grant_vs_fetch  ratio = fetch CPU per grant / ours (above 1: less CPU than undici)
 *  - node_async_stat_p99_storm_ratio  ratio = p99 of sequential fs.promises.stat during the cotter storm / p99 of
 *                                     the same loop without it (target ≤ 2); p99_ms of both
 *  - node_fetch_stat_p99_storm_ratio  the same during the fetch storm (for scale: the emulator shares the machine)
 *  - node_async_stat_p99_100_at_200ms  issue 12's own scenario (one fs.promises.stat took 5.3 s while 100 calls
 *                                     waited on a 200 ms server): p99_ms = median over the rounds of the stat p99
 *                                     during 100 cotter calls held 200 ms each; ratio = that / the median p99 of
 *                                     the same loop without them (target ≤ 2); per-round p99s in p99_rounds_ms
 *  - node_fetch_stat_p99_100_at_200ms  the same through fetch (for scale)
 * Usage: node bench/node_async.mjs [--calls N] [--rounds N] [--latency-ms N]
 */
import fs from 'node:fs';
import { arg, dev, emit, fetchRefresh, median, refreshTokens, require, startEmulator } from './node_common.mjs';

const calls = Number(arg('calls', '1000'));
const rounds = Number(arg('rounds', '5'));
const latency = Number(arg('latency-ms', '100'));
const { Client } = require('./');
const REFRESH = 'POST /api/v0/token/:api_key_id';
const SMALL_CALLS = 100;         // issue 12's fs scenario: 100 calls...
const SMALL_LATENCY_MS = 200;   // ...each held 200 ms by the server

const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };  // µs, every thread of the process

/** One burst of `calls` grants held `latency` ms each: { seconds, cpuUs }. */
async function burst(info, grant, prefix) {
  const rts = await refreshTokens(info, calls, prefix);
  await dev(info, '/faults', { route: REFRESH, latency_ms: latency, count: calls });
  const c0 = cpu();
  const t0 = process.hrtime.bigint();
  const out = await Promise.all(rts.map(grant));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuUs = cpu() - c0;
  if (out.length !== calls) throw new Error('a grant is missing');
  return { seconds, cpuUs };
}

/** Latencies (ms) of back-to-back fs.promises.stat calls until `done()` says stop. */
async function statLoop(done) {
  const lat = [];
  while (!done()) {
    const t = process.hrtime.bigint();
    await fs.promises.stat(process.execPath);
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return lat;
}

function p99(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

/**
 * p99 (ms) of back-to-back fs.promises.stat calls while `n` grants are held `latencyMs` each by the emulator, then
 * of the same loop for as long again without them: { storm, idle }.
 */
async function statDuringStorm(info, grant, n, latencyMs, prefix) {
  let stormDone = false;
  const rts = await refreshTokens(info, n, prefix);
  await dev(info, '/faults', { route: REFRESH, latency_ms: latencyMs, count: n });
  const t0 = process.hrtime.bigint();
  const sampling = statLoop(() => stormDone);
  await Promise.all(rts.map(grant));
  stormDone = true;
  const storm = p99(await sampling);
  const stormNs = process.hrtime.bigint() - t0;
  const t1 = process.hrtime.bigint();
  const idle = p99(await statLoop(() => process.hrtime.bigint() - t1 >= stormNs));
  return { storm, idle };
}

const emu = await startEmulator();
const { info } = emu;
try {
  const client = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url });
  const ours = (rt) => client.refresh(rt).then((t) => { if (!t.accessToken) throw new Error('a grant failed'); });
  const peer = fetchRefresh(info);
  // Warm-up of both: connections, JIT.
  await burst(info, ours, 'warm-ours');
  await burst(info, peer, 'warm-fetch');

  const runs = { ours: [], fetch: [], statStorm: [], statIdle: [], statFetchStorm: [], statFetchIdle: [] };
  const small = { ours: { storm: [], idle: [] }, fetch: { storm: [], idle: [] } };
  for (let r = 0; r < rounds; r++) {
    runs.ours.push(await burst(info, ours, `ours${r}-`));
    runs.fetch.push(await burst(info, peer, `fetch${r}-`));
    // fs.promises.stat during a storm (cotter's, then fetch's), then the same loop for as long without one.
    for (const [grant, during, idle] of [[ours, runs.statStorm, runs.statIdle], [peer, runs.statFetchStorm, runs.statFetchIdle]]) {
      const p = await statDuringStorm(info, grant, calls, latency, `stat${r}-${during.length}-${grant === ours ? 'o' : 'f'}`);
      during.push(p.storm);
      idle.push(p.idle);
    }
    // Issue 12's scenario: 100 calls on a 200 ms server.
    for (const [grant, side] of [[ours, 'ours'], [peer, 'fetch']]) {
      const p = await statDuringStorm(info, grant, SMALL_CALLS, SMALL_LATENCY_MS, `small${r}-${side}`);
      small[side].storm.push(p.storm);
      small[side].idle.push(p.idle);
    }
  }
  client.close();

  const rate = (xs) => calls / median(xs.map((x) => x.seconds));
  const cpuPerCall = (xs) => median(xs.map((x) => x.cpuUs / calls));
  const oursRate = rate(runs.ours);
  const fetchRate = rate(runs.fetch);
  const oursCpu = cpuPerCall(runs.ours);
  const fetchCpu = cpuPerCall(runs.fetch);
  const round2 = (x) => Math.round(x * 100) / 100;
  emit('node_async_refresh_1000', oursRate, 'node_fetch_refresh_1000', fetchRate,
    { concurrent: calls, latency_ms: latency, cpu_us_per_call: round2(oursCpu) });
  emit('node_fetch_refresh_1000', fetchRate, 'node_fetch_refresh_1000', fetchRate,
    { concurrent: calls, latency_ms: latency, cpu_us_per_call: round2(fetchCpu) });
  emit('node_async_cpu_per_grant_vs_fetch', 1e6 / oursCpu, 'fetch CPU per grant / ours', 1e6 / fetchCpu,
    { ours_cpu_us: round2(oursCpu), fetch_cpu_us: round2(fetchCpu) });
  for (const [bench, stormRuns, idleRuns] of [['node_async_stat_p99_storm_ratio', runs.statStorm, runs.statIdle],
    ['node_fetch_stat_p99_storm_ratio', runs.statFetchStorm, runs.statFetchIdle]]) {
    const storm = median(stormRuns);
    const idle = median(idleRuns);
    process.stdout.write(JSON.stringify({
      bench, ops_per_sec: null, baseline: 'fs.promises.stat p99 without the storm',
      ratio: Math.round((storm / idle) * 100) / 100, p99_storm_ms: Math.round(storm * 1000) / 1000,
      p99_idle_ms: Math.round(idle * 1000) / 1000, concurrent: calls, latency_ms: latency,
    }) + '\n');
  }
  for (const [bench, side] of [['node_async_stat_p99_100_at_200ms', 'ours'], ['node_fetch_stat_p99_100_at_200ms', 'fetch']]) {
    const storm = median(small[side].storm);
    const idle = median(small[side].idle);
    const ms = (x) => Math.round(x * 1000) / 1000;
    process.stdout.write(JSON.stringify({
      bench, ops_per_sec: null, baseline: 'fs.promises.stat p99 without the calls (median of rounds)',
      ratio: Math.round((storm / idle) * 100) / 100, p99_ms: ms(storm), p99_idle_ms: ms(idle),
      p99_rounds_ms: small[side].storm.map(ms), rounds, concurrent: SMALL_CALLS, latency_ms: SMALL_LATENCY_MS,
    }) + '\n');
  }
} finally {
  emu.stop();
}
