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
 * Usage: node bench/node_async.mjs [--calls N] [--rounds N] [--latency-ms N]
 */
import fs from 'node:fs';
import { arg, dev, emit, fetchRefresh, median, refreshTokens, require, startEmulator } from './node_common.mjs';

const calls = Number(arg('calls', '1000'));
const rounds = Number(arg('rounds', '5'));
const latency = Number(arg('latency-ms', '100'));
const { Client } = require('./');
const REFRESH = 'POST /api/v0/token/:api_key_id';

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
  for (let r = 0; r < rounds; r++) {
    runs.ours.push(await burst(info, ours, `ours${r}-`));
    runs.fetch.push(await burst(info, peer, `fetch${r}-`));
    // fs.promises.stat during a storm (cotter's, then fetch's), then the same loop for as long without one.
    for (const [grant, during, idle] of [[ours, runs.statStorm, runs.statIdle], [peer, runs.statFetchStorm, runs.statFetchIdle]]) {
      let stormDone = false;
      const rts = await refreshTokens(info, calls, `stat${r}-${during.length}-${grant === ours ? 'o' : 'f'}`);
      await dev(info, '/faults', { route: REFRESH, latency_ms: latency, count: calls });
      const t0 = process.hrtime.bigint();
      const sampling = statLoop(() => stormDone);
      await Promise.all(rts.map(grant));
      stormDone = true;
      during.push(p99(await sampling));
      const stormNs = process.hrtime.bigint() - t0;
      const t1 = process.hrtime.bigint();
      idle.push(p99(await statLoop(() => process.hrtime.bigint() - t1 >= stormNs)));
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
} finally {
  emu.stop();
}
