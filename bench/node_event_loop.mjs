/**
 * @file bench/node_event_loop.mjs
 * @brief Event-loop lag while 1,000 grant calls run at once: 1,000 concurrent `client.refresh()` calls (the
 * refresh grant) against the emulator in another process, with `perf_hooks.monitorEventLoopDelay` sampling every
 * millisecond. The same burst through Node's fetch is measured for scale. JSON lines:
 *  - node_event_loop_lag_p99_ms   ratio = p99 lag in ms (target ≤ 10 ms), ops_per_sec = grants/s of the burst;
 *  - node_fetch_event_loop_p99_ms the same with fetch (informational; it parses JSON on the loop).
 * Usage: node bench/node_event_loop.mjs [--calls N] [--rounds N]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { arg, fetchRefresh, median, refreshTokens as tokens, require, startEmulator } from './node_common.mjs';

const calls = Number(arg('calls', '1000'));
const rounds = Number(arg('rounds', '3'));
const { Client } = require('./');
const refreshTokens = (info) => tokens(info, calls, 'lag');

/** Runs `burst()` while sampling the loop; returns { p99, max, seconds } in ms / s. */
async function measure(burst) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  await new Promise((r) => setTimeout(r, 20));
  h.enable();
  const t0 = process.hrtime.bigint();
  await burst();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  h.disable();
  return { p99: h.percentile(99) / 1e6, max: h.max / 1e6, seconds };
}

const emu = await startEmulator();
const { info } = emu;
try {
  const client = new Client({ apiKeyId: info.api_key_id, apiSecretKey: info.api_secret_key, baseUrl: info.base_url });
  const viaFetch = fetchRefresh(info);
  const ours = [];
  const peer = [];
  // Warm-up: connections, thread pool, JIT.
  await Promise.all((await refreshTokens(info)).slice(0, 64).map((rt) => client.refresh(rt)));
  for (let r = 0; r < rounds; r++) {
    let rts = await refreshTokens(info);
    ours.push(await measure(async () => {
      const res = await Promise.all(rts.map((rt) => client.refresh(rt)));
      if (res.length !== calls || !res.every((t) => t.accessToken)) throw new Error('a grant failed');
    }));
    rts = await refreshTokens(info);
    peer.push(await measure(async () => {
      await Promise.all(rts.map(viaFetch));
    }));
  }
  client.close();
  const line = (bench, runs, extra) => {
    const p99 = median(runs.map((x) => x.p99));
    process.stdout.write(JSON.stringify({
      bench, ops_per_sec: Math.round(calls / median(runs.map((x) => x.seconds))), baseline: 'p99 lag in ms (lower is better)',
      ratio: Math.round(p99 * 100) / 100, p99_ms: Math.round(p99 * 100) / 100, max_ms: Math.round(median(runs.map((x) => x.max)) * 100) / 100,
      concurrent_calls: calls, ...extra,
    }) + '\n');
  };
  line('node_event_loop_lag_p99_ms', ours, {});
  line('node_fetch_event_loop_p99_ms', peer, {});
} finally {
  emu.stop();
}
